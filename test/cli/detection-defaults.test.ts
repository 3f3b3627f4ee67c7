/**
 * One meaning of brute force: `soar-edr authlog` and `winlog` default to the thresholds and
 * windows of the detections in the packaged app (dist/soar_edr-<version>.tgz, read as
 * installed, not copied here), compare the same way ("more than"), group the same way, say
 * so in --help, and each --help lists only the options its command has.
 */
import { strict as assert } from 'node:assert';
import type { Command } from 'commander';
import { BruteForceOptions, SSH_BRUTE_FORCE_OPTIONS, WINDOWS_BRUTE_FORCE_OPTIONS } from '../../src/analysis/bruteforce';
import { AUTHLOG_DETECTION, authlogCommand } from '../../src/cli/authlog-command';
import type { DetectionDefaults } from '../../src/cli/failure-command';
import { FailureOptionText, parseFailureOptions } from '../../src/cli/failure-summary';
import type { CliIO } from '../../src/cli/runtime';
import { WINLOG_DETECTION, winlogCommand } from '../../src/cli/winlog-command';
import type { ConfStanza } from '../support/conf-file';
import { lookBackSeconds, packagedConfs, packagedMacros } from '../support/packaged-conf';

/** The commands are only built and asked for help here, never run. */
const io: CliIO = {
  env: {},
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  setExitCode: () => undefined,
};

interface Follows {
  readonly make: () => Command;
  readonly detection: DetectionDefaults;
  /** The core options the command's defaults must equal (the bench and other callers use them). */
  readonly core: BruteForceOptions;
  /** The saved search, its threshold and window macros, and what its threshold's stats groups by. */
  readonly search: string;
  readonly thresholdMacro: string;
  readonly windowMacro: string;
  readonly groupedBy: string;
}

const COMMANDS: Record<'authlog' | 'winlog', Follows> = {
  authlog: {
    make: () => authlogCommand(io),
    detection: AUTHLOG_DETECTION,
    core: SSH_BRUTE_FORCE_OPTIONS,
    search: 'SOAR-EDR - SSH brute force',
    thresholdMacro: 'soar_ssh_bruteforce_threshold',
    windowMacro: 'soar_ssh_bruteforce_window',
    groupedBy: 'src_ip',
  },
  winlog: {
    make: () => winlogCommand(io),
    detection: WINLOG_DETECTION,
    core: WINDOWS_BRUTE_FORCE_OPTIONS,
    search: 'SOAR-EDR - Windows failed-logon brute force',
    thresholdMacro: 'soar_windows_bruteforce_threshold',
    windowMacro: 'soar_windows_bruteforce_window',
    groupedBy: 'src_ip, user',
  },
};

/** Both commands' --success-after / --success-window follow this one. */
const COMPROMISE = {
  search: 'SOAR-EDR - Successful login after failures',
  thresholdMacro: 'soar_compromise_failure_threshold',
  windowMacro: 'soar_compromise_window',
  groupedBy: 'src_ip',
};

/** What a command does when given no option: its options' defaults as the command parses them. */
function effectiveDefaults(f: Follows): BruteForceOptions {
  const cmd = f.make();
  const text = (long: string): string => {
    const o = cmd.options.find((x) => x.long === long);
    assert.ok(o, `${cmd.name()} has no ${long}`);
    assert.equal(typeof o.defaultValue, 'string', `${cmd.name()} ${long} default`);
    return o.defaultValue as string;
  };
  const given: FailureOptionText = {
    threshold: text('--threshold'),
    window: text('--window'),
    successAfter: text('--success-after'),
    successWindow: text('--success-window'),
    top: text('--top'),
  };
  const parsed = parseFailureOptions(given, f.detection.options);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error.message);
  return parsed.value;
}

/** The full --help text, the part after the options included. */
function helpText(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

/** The long names in the help's Options section. */
function listedOptions(help: string): string[] {
  const start = help.indexOf('\nOptions:\n');
  assert.ok(start >= 0, 'an Options section');
  const section = help.slice(start, help.indexOf('\n\n', start + 1));
  return [...section.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]!);
}

describe('cli: authlog and winlog defaults are the packaged detections', function () {
  this.timeout(60_000);
  let macro: (name: string) => string;
  let searches: ConfStanza[];

  before(async () => {
    macro = await packagedMacros();
    searches = (await packagedConfs(['savedsearches.conf'])).get('savedsearches.conf')!;
  });

  const search = (name: string): string => {
    const s = searches.find((x) => x.name === name);
    assert.ok(s, `the packaged savedsearches.conf has no [${name}]`);
    return s.entries.find((e) => e.key === 'search')!.value;
  };

  for (const [name, f] of Object.entries(COMMANDS)) {
    it(`${name}: --threshold and --window default to ${f.thresholdMacro} and ${f.windowMacro}`, () => {
      const d = effectiveDefaults(f);
      assert.equal(d.threshold, Number(macro(f.thresholdMacro)));
      assert.equal(d.windowSeconds, lookBackSeconds(macro(f.windowMacro)));
    });

    it(`${name}: --success-after and --success-window default to the success-after-failures detection's macros`, () => {
      const d = effectiveDefaults(f);
      assert.equal(d.failuresBeforeSuccess, Number(macro(COMPROMISE.thresholdMacro)));
      assert.equal(d.successWindowSeconds, lookBackSeconds(macro(COMPROMISE.windowMacro)));
    });

    it(`${name}: counts as "${f.search}" does: more than the threshold, grouped by ${f.groupedBy}`, () => {
      for (const s of [f, COMPROMISE]) {
        const text = search(s.search);
        assert.ok(text.includes(`\`${s.windowMacro}\``), `${s.search} looks back ${s.windowMacro}`);
        const m = new RegExp(`\\bby ([\\w, ]+?)\\s*\\|\\s*where \\w+ > \`${s.thresholdMacro}\``).exec(text);
        assert.ok(m, `${s.search} keeps rows MORE than ${s.thresholdMacro}, right after its stats`);
        assert.equal(m[1], s.groupedBy);
      }
      assert.equal(effectiveDefaults(f).perAccount, f.groupedBy.split(/,\s*/).includes('user'));
    });

    it(`${name}: the core's own defaults are the same (what the analysis uses without the CLI)`, () => {
      assert.deepEqual(effectiveDefaults(f), f.core);
      assert.equal(f.detection.options, f.core);
    });

    it(`${name} --help says the defaults are the detection's, which macros, and how to change them`, () => {
      const help = helpText(f.make());
      const d = effectiveDefaults(f);
      for (const words of [f.search, f.thresholdMacro, f.windowMacro, COMPROMISE.search, COMPROMISE.thresholdMacro, COMPROMISE.windowMacro, 'local/macros.conf']) {
        assert.ok(help.includes(words), `${name} --help names ${words}`);
      }
      const window = macro(f.windowMacro).replace(/^earliest=-(\S+) .*$/, '$1');
      assert.match(help, new RegExp(`--threshold ${d.threshold} --window ${window}\\b`));
      assert.match(help, new RegExp(`more than ${d.threshold} ${f.detection.counted} fall within ANY\\s+${window}\\b`));
    });
  }
});

describe('cli: each of authlog and winlog --help lists only its own options', () => {
  const made = { authlog: COMMANDS.authlog.make(), winlog: COMMANDS.winlog.make() };
  const accepted = (cmd: Command): string[] => cmd.options.map((o) => o.long!);

  for (const [name, cmd] of Object.entries(made)) {
    it(`${name}: the Options section is exactly what the command accepts`, () => {
      assert.deepEqual(listedOptions(helpText(cmd)), [...accepted(cmd), '--help']);
    });
  }

  it("winlog --help names no authlog-only option anywhere (--year, --timezone, --all-methods), nor authlog's winlog's", () => {
    const [a, w] = [accepted(made.authlog), accepted(made.winlog)];
    const authlogOnly = a.filter((o) => !w.includes(o));
    const winlogOnly = w.filter((o) => !a.includes(o));
    assert.deepEqual(authlogOnly, ['--year', '--timezone', '--all-methods']);
    assert.deepEqual(winlogOnly, ['--input-format']);
    const [authlogHelp, winlogHelp] = [helpText(made.authlog), helpText(made.winlog)];
    for (const o of authlogOnly) {
      assert.doesNotMatch(winlogHelp, new RegExp(`${o}\\b`), `winlog --help mentions ${o}`);
      assert.match(authlogHelp, new RegExp(`${o}\\b`));
    }
    for (const o of winlogOnly) {
      assert.doesNotMatch(authlogHelp, new RegExp(`${o}\\b`), `authlog --help mentions ${o}`);
      assert.match(winlogHelp, new RegExp(`${o}\\b`));
    }
  });

  it("the exit codes' usage line names the command's own options that take a value", () => {
    const usageLines = (help: string): string => /\n {2}2 {2}usage: [^\n]*\n((?: {5}[^\n]*\n)+)/.exec(help)![1]!;
    for (const [name, cmd] of Object.entries(made)) {
      const valued = cmd.options.filter((o) => o.required && o.long !== '--out').map((o) => o.long!);
      assert.deepEqual(usageLines(helpText(cmd)).trim().split(/\s+/), valued, name);
    }
  });
});
