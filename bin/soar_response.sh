#!/bin/sh
# SOAR-EDR alert action launcher. splunkd runs bin/soar_response.sh --execute (found by
# the alert_actions.conf stanza name) with the JSON payload on stdin. This script finds a
# Node.js >= 18 and execs the bundled action with argv and stdin passed through unchanged.
#
# Node is searched in this order (Splunk 10.2+ ships no Node; older Splunk ships an old one):
#   1. $SOAR_NODE                      (if set, it is the only candidate)
#   2. a Node inside the app:          bin/node/bin/node, bin/node
#   3. $SPLUNK_HOME/bin/node
#   4. node on PATH
# Exit code 5: no usable Node (one FATAL line on stderr says what was tried).

MIN_NODE_MAJOR=18
case $0 in
  */*) bin_dir=${0%/*} ;;
  *) bin_dir=. ;;
esac
here=$(CDPATH='' cd -- "$bin_dir" && pwd) || {
  echo "FATAL action_name=\"soar_response\" signature=\"Launcher failed\" message=\"cannot locate the app bin directory\"" >&2
  exit 5
}
main="$here/soar_response_main.cjs"
tried=""
node=""
newline='
'


# Asking a Node its version costs a process start (~20 ms, a fifth of the whole action), so
# the Node that passed is remembered inside Splunk's var/run. If that Node is later replaced
# by an older one, the bundle's own first lines (bin/soar_response_main.cjs, plain ES5) say
# so with the same FATAL line, exit 5 and forget the note.
checked_note=""
if [ -n "${SPLUNK_HOME:-}" ] && [ -d "$SPLUNK_HOME/var/run" ]; then
  checked_note="$SPLUNK_HOME/var/run/soar_edr/node-checked"
fi

# try_node PATH: accept PATH if it runs and reports version >= MIN_NODE_MAJOR.
try_node() {
  candidate=$1
  if [ ! -f "$candidate" ] || [ ! -x "$candidate" ]; then
    tried="$tried $candidate(not found)"
    return 1
  fi
  if [ -n "$checked_note" ] && [ -f "$checked_note" ]; then
    noted=""
    IFS= read -r noted < "$checked_note" || true
    if [ "$noted" = "$candidate" ]; then
      node=$candidate
      return 0
    fi
  fi
  version=$("$candidate" --version 2>/dev/null)
  version=${version%%"$newline"*}
  major=${version#v}
  major=${major%%.*}
  case $major in
    '' | *[!0-9]*)
      tried="$tried $candidate(no version: '$version')"
      return 1
      ;;
  esac
  if [ "$major" -lt "$MIN_NODE_MAJOR" ]; then
    tried="$tried $candidate($version, too old)"
    return 1
  fi
  node=$candidate
  if [ -n "$checked_note" ]; then
    mkdir -p "${checked_note%/*}" 2>/dev/null &&
      printf '%s\n' "$candidate" > "$checked_note.$$" 2>/dev/null &&
      mv -f "$checked_note.$$" "$checked_note" 2>/dev/null
  fi
  return 0
}

if [ -n "${SOAR_NODE:-}" ]; then
  # An explicit choice is never silently replaced by another Node.
  try_node "$SOAR_NODE"
else
  try_node "$here/node/bin/node" ||
    try_node "$here/node" ||
    { [ -n "${SPLUNK_HOME:-}" ] && try_node "$SPLUNK_HOME/bin/node"; } ||
    { on_path=$(command -v node 2>/dev/null) && try_node "$on_path"; } ||
    tried="$tried node-on-PATH(not found)"
fi

if [ -z "$node" ]; then
  echo "FATAL action_name=\"soar_response\" signature=\"No usable Node.js\" message=\"soar_response needs Node.js >= $MIN_NODE_MAJOR; tried:$tried. Set SOAR_NODE to a Node >= $MIN_NODE_MAJOR (Splunk 10.2+ ships none)\"" >&2
  exit 5
fi

case $node in
  "${SPLUNK_HOME:-/nonexistent}"/*) ;;
  # splunkd exports LD_LIBRARY_PATH for its own binaries; a system Node must not load them.
  *) unset LD_LIBRARY_PATH ;;
esac

exec "$node" "$main" "$@"
