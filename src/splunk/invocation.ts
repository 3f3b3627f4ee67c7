/**
 * argv contract: splunkd starts the script with exactly one argument, `--execute`
 * (CONTRACT.md §1.1). Anything else means someone ran it by hand or misconfigured
 * alert.execute.cmd without alert.execute.cmd.arg.N = --execute.
 */
import { fail, ok, Result } from '../result';

export const USAGE =
  'usage: soar_response.sh --execute < payload.json   (run by splunkd as the soar_response alert action)';

export function checkInvocation(args: readonly string[]): Result<'execute', 'usage'> {
  if (args.length === 0) {
    return fail('usage', `missing --execute: this script is run by splunkd as an alert action. ${USAGE}`);
  }
  const unknown = args.filter((a) => a !== '--execute');
  if (unknown.length > 0) {
    return fail('usage', `unsupported argument(s) ${unknown.map((a) => JSON.stringify(a.slice(0, 40))).join(', ')}. ${USAGE}`);
  }
  return ok('execute');
}
