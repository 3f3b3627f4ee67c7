import { IpAddress, parseIpAddress } from '../../src/address/ip-address';

/** A fixture address, parsed as every edge parses it; a typo in a fixture fails loudly. */
export function ip(text: string): IpAddress {
  const parsed = parseIpAddress(text);
  if (!parsed.ok) throw new Error(`fixture address: ${parsed.error.message}`);
  return parsed.value;
}
