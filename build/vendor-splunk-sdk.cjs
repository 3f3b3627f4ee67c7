// Entry of bin/vendor/splunk-sdk.cjs (and of what the tests load directly): Splunk's SDK
// Service and its Http base class from one module graph, because the SDK checks
// `http instanceof Http` when it is handed a transport.

module.exports = { Service: require('splunk-sdk/lib/service'), Http: require('splunk-sdk/lib/http') };
