/**
 * The firewall commands a block WOULD run. Nothing here executes anything: the product
 * only simulates blocks, and shows the exact commands so an analyst can run them by hand.
 *
 * The address is attacker-influenced and ends up in a shell command line: only an
 * `IpAddress` (src/address/ip-address.ts) is taken, and only its canonical text is embedded.
 */
import type { IpAddress } from '../address/ip-address';
import { fail, ok, Result } from '../result';

export type AddressFamily = 4 | 6;

export type FirewallErrorKind = 'invalid_expiry';

/** iptables' time match cannot express dates past 2038-01-19T03:14:07Z. */
const XT_TIME_LAST_EPOCH_SEC = 2 ** 31 - 1;

export const NFT_TABLE = 'inet soar_edr';
const NFT_SET: Readonly<Record<AddressFamily, string>> = { 4: 'blocked_v4', 6: 'blocked_v6' };
const IPTABLES: Readonly<Record<AddressFamily, string>> = { 4: 'iptables', 6: 'ip6tables' };
const RULE_COMMENT = 'soar-edr';

/**
 * One-time nftables setup the `nft add element` commands rely on: a table with one timed
 * set per family and a drop rule for each. Kept apart so per-incident output stays short.
 */
export const NFT_SETUP_COMMANDS: readonly string[] = [
  `nft add table ${NFT_TABLE}`,
  `nft 'add set ${NFT_TABLE} ${NFT_SET[4]} { type ipv4_addr; flags timeout; }'`,
  `nft 'add set ${NFT_TABLE} ${NFT_SET[6]} { type ipv6_addr; flags timeout; }'`,
  `nft 'add chain ${NFT_TABLE} input { type filter hook input priority -10; policy accept; }'`,
  `nft add rule ${NFT_TABLE} input ip saddr @${NFT_SET[4]} drop`,
  `nft add rule ${NFT_TABLE} input ip6 saddr @${NFT_SET[6]} drop`,
];

/** Whether `commands` add an element to the nftables sets, which exist only after NFT_SETUP_COMMANDS. */
export function needsNftSetup(commands: readonly string[]): boolean {
  return commands.some((c) => c.startsWith(`nft 'add element ${NFT_TABLE} `));
}

export interface BlockExpiry {
  /** When the block lapses (Unix seconds). */
  readonly expiresEpochSec: number;
  /** The moment the commands would run (Unix seconds); nft timeouts are relative to it. */
  readonly nowEpochSec: number;
}

function checkedExpiry(expiry: BlockExpiry): Result<BlockExpiry, 'invalid_expiry'> {
  const { expiresEpochSec, nowEpochSec } = expiry;
  if (!Number.isSafeInteger(expiresEpochSec) || !Number.isSafeInteger(nowEpochSec) || nowEpochSec < 0) {
    return fail('invalid_expiry', `expiry times must be whole Unix seconds (got expires=${expiresEpochSec}, now=${nowEpochSec})`);
  }
  if (expiresEpochSec <= nowEpochSec) {
    return fail('invalid_expiry', `the block would already have expired (expires ${expiresEpochSec} <= now ${nowEpochSec})`);
  }
  return ok(expiry);
}

/** `YYYY-MM-DDThh:mm:ss` in UTC, the form `iptables -m time --datestop` reads (UTC by default). */
function xtTimeStamp(epochSec: number): string {
  return new Date(epochSec * 1000).toISOString().slice(0, 19);
}

function iptablesRuleSpec(ip: IpAddress, expiresEpochSec: number | undefined): string {
  const until =
    expiresEpochSec !== undefined && expiresEpochSec <= XT_TIME_LAST_EPOCH_SEC
      ? ` -m time --datestop ${xtTimeStamp(expiresEpochSec)}`
      : '';
  return `INPUT -s ${ip.text} -m comment --comment ${RULE_COMMENT}${until} -j DROP`;
}

/**
 * The commands that would block `ip`: an iptables/ip6tables rule and an nftables set
 * element (see NFT_SETUP_COMMANDS). With an expiry, the iptables rule stops matching at
 * the expiry time and the nft element times out by itself.
 */
export function firewallCommands(ip: IpAddress, expiry?: BlockExpiry): Result<string[], FirewallErrorKind> {
  let nftTimeout = '';
  let expiresEpochSec: number | undefined;
  if (expiry !== undefined) {
    const checked = checkedExpiry(expiry);
    if (!checked.ok) return checked;
    expiresEpochSec = checked.value.expiresEpochSec;
    nftTimeout = ` timeout ${checked.value.expiresEpochSec - checked.value.nowEpochSec}s`;
  }
  return ok([
    `${IPTABLES[ip.family]} -I ${iptablesRuleSpec(ip, expiresEpochSec)}`,
    `nft 'add element ${NFT_TABLE} ${NFT_SET[ip.family]} { ${ip.text}${nftTimeout} }'`,
  ]);
}

/**
 * The commands that would lift the block again. iptables deletes by exact rule, so pass
 * the same expiry the block was built with.
 */
export function firewallUnblockCommands(ip: IpAddress, expiresEpochSec?: number): Result<string[], FirewallErrorKind> {
  if (expiresEpochSec !== undefined && !Number.isSafeInteger(expiresEpochSec)) {
    return fail('invalid_expiry', `expiry must be whole Unix seconds (got ${expiresEpochSec})`);
  }
  return ok([
    `${IPTABLES[ip.family]} -D ${iptablesRuleSpec(ip, expiresEpochSec)}`,
    `nft 'delete element ${NFT_TABLE} ${NFT_SET[ip.family]} { ${ip.text} }'`,
  ]);
}
