/**
 * docker-compose.yml: valid against the official Compose Specification schema
 * (test/fixtures/compose/compose-spec.json), and what issue 4 asks of it — pinned images, ports
 * 8000/8089/1514, the splunk-indexes volume, the license flags, a healthcheck, the app package
 * installed through SPLUNK_APPS_URL, the .env secrets stored by a one-shot service, and the
 * attack profile — checked on the parsed document after compose's own interpolation.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { packageVersion } from '../support/paths';
import {
  COMPOSE_FILE,
  composeValidator,
  DOCKERFILE,
  dockerfileStages,
  environmentOf,
  interpolateDocument,
  type Json,
  parseDotEnv,
  parsePort,
  parseYaml,
  REPO_ROOT,
  repoFile,
  type Stage,
  variablesIn,
} from './deploy-files';

type Service = { [key: string]: Json };

const composeText = repoFile(COMPOSE_FILE);
const dotEnvExample = parseDotEnv(repoFile('.env.example'));
/** what a user has after `cp .env.example .env` and setting the one required value */
const userEnv = { ...Object.fromEntries(dotEnvExample), SPLUNK_PASSWORD: 'Str0ng-Passw0rd' };

function resolved(env: Record<string, string | undefined>): { services: Record<string, Service>; volumes: Record<string, Json> } {
  const r = interpolateDocument(parseYaml(composeText), env);
  assert.deepEqual(r.errors, []);
  return r.value as unknown as { services: Record<string, Service>; volumes: Record<string, Json> };
}

function stage(name: string): Stage {
  const s = dockerfileStages(repoFile(DOCKERFILE)).stages.find((x) => x.name === name);
  assert.ok(s, `docker/Dockerfile has a stage "${name}"`);
  return s;
}

/** The service built from docker/Dockerfile's given target. */
function builtFrom(service: Service, target: string): void {
  const build = service.build as { context: string; dockerfile: string; target: string };
  assert.equal(path.resolve(REPO_ROOT, build.context), REPO_ROOT);
  assert.equal(build.dockerfile, DOCKERFILE);
  assert.equal(build.target, target);
}

describe('docker-compose.yml', () => {
  const validate = composeValidator();

  describe('against the Compose Specification schema', () => {
    it('is valid YAML and valid against compose-spec.json as written', () => {
      const doc = parseYaml(composeText);
      const valid = validate(doc);
      assert.equal(valid, true, JSON.stringify(validate.errors, null, 2));
    });

    it('stays valid after interpolation with the .env a user makes from .env.example', () => {
      const doc = resolved(userEnv);
      assert.equal(validate(doc), true, JSON.stringify(validate.errors, null, 2));
    });

    it("rejects the seed guide's file with its indentation lost (every key at column 0)", () => {
      // seed 000, step 3, as it reaches a reader whose editor dropped the indentation
      const flattened = [
        "version: '3'",
        'services:',
        'splunk:',
        'image: splunk/splunk:latest',
        'container_name: splunk',
        'ports:',
        '- 8000:8000',
        'environment:',
        '- SPLUNK_START_ARGS=--accept-license',
        'volumes:',
        '- splunk-indexes:/opt/splunk/var/lib/splunk',
        'volumes:',
        'splunk-indexes:',
      ].join('\n');
      assert.throws(() => parseYaml(flattened), /unique|duplicate/i, 'the repeated top-level "volumes" key is a YAML error');
      const lenient = parseYaml(flattened.replace(/\nvolumes:\nsplunk-indexes:$/, ''));
      assert.equal(validate(lenient), false);
      const complaints = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`).join('\n');
      assert.match(complaints, /additionalProperty":"splunk"/, complaints);
      assert.match(complaints, /\/services must be object/, complaints);
    });

    it('rejects a service nested one level too deep, a port list written as one string, and an unknown key', () => {
      const doc = parseYaml(composeText) as { services: Record<string, Service> };
      const tooDeep = { ...doc, services: { soar: { splunk: doc.services.splunk! } } };
      assert.equal(validate(tooDeep), false);
      assert.ok(validate.errors!.some((e) => e.instancePath === '/services/soar' && e.params.additionalProperty === 'splunk'));

      const portsAsString = structuredClone(doc);
      portsAsString.services.splunk!.ports = '8000:8000 8089:8089';
      assert.equal(validate(portsAsString), false);
      assert.ok(validate.errors!.some((e) => e.instancePath === '/services/splunk/ports' && e.message === 'must be array'));

      const typo = structuredClone(doc);
      typo.services.splunk!.enviroment = typo.services.splunk!.environment!;
      delete typo.services.splunk!.environment;
      assert.equal(validate(typo), false);
      assert.ok(validate.errors!.some((e) => e.params.additionalProperty === 'enviroment'));
    });
  });

  describe('interpolation and .env', () => {
    it('stops with an instruction when SPLUNK_PASSWORD is not set (a fresh copy of .env.example)', () => {
      const r = interpolateDocument(parseYaml(composeText), Object.fromEntries(dotEnvExample));
      assert.ok(r.errors.length >= 1);
      for (const e of r.errors) assert.match(e, /SPLUNK_PASSWORD .*cp \.env\.example \.env.*8 or more characters/);
    });

    it('every variable the file uses is documented in .env.example, and .env.example holds no other', () => {
      // in the parsed document: compose does not interpolate comments
      const used = variablesIn(JSON.stringify(parseYaml(composeText)));
      assert.deepEqual([...used].sort(), [...dotEnvExample.keys()].sort());
    });

    it('.env.example holds placeholders only: every secret is empty, SPLUNK_PASSWORD included', () => {
      for (const key of ['SPLUNK_PASSWORD', 'SOAR_VIRUSTOTAL_API_KEY', 'SOAR_ABUSEIPDB_API_KEY', 'SOAR_DISCORD_WEBHOOK_URL']) {
        assert.equal(dotEnvExample.get(key), '', `${key} in .env.example`);
      }
    });

    it('.env is git-ignored and .env.example is not', () => {
      const ignored = (p: string) => spawnSync('git', ['check-ignore', '-q', p], { cwd: REPO_ROOT }).status;
      assert.equal(ignored('.env'), 0);
      assert.equal(ignored('.env.example'), 1);
    });
  });

  describe('the splunk service', () => {
    const { services, volumes } = resolved(userEnv);
    const splunk = services.splunk!;
    const env = environmentOf(splunk);

    it('is built from docker/Dockerfile (target splunk), FROM a pinned splunk/splunk 10.x tag', () => {
      builtFrom(splunk, 'splunk');
      const image = stage('splunk').image;
      const m = /^splunk\/splunk:(\d+)\.(\d+)\.(\d+)$/.exec(image);
      assert.ok(m, `pinned x.y.z tag, not "latest": ${image}`);
      assert.equal(Number(m[1]), 10);
      assert.equal(splunk.image, undefined, 'no image: key that could pull a :latest instead of building');
    });

    it('publishes 8000, 8089 and 1514 to the same container ports, on 127.0.0.1 unless SOAR_BIND_ADDRESS says otherwise', () => {
      const ports = (splunk.ports as string[]).map(parsePort);
      assert.deepEqual(
        ports.map((p) => [p.published, p.target, p.protocol]),
        [
          [8000, 8000, 'tcp'],
          [8089, 8089, 'tcp'],
          [1514, 1514, 'tcp'],
        ],
      );
      for (const p of ports) assert.equal(p.hostIp, '127.0.0.1');
      const everywhere = resolved({ ...userEnv, SOAR_BIND_ADDRESS: '0.0.0.0' }).services.splunk!;
      for (const p of (everywhere.ports as string[]).map(parsePort)) assert.equal(p.hostIp, '0.0.0.0');
    });

    it('the TCP port published is the one the app\'s inputs.conf listens on', () => {
      const stanza = /^\[tcp:\/\/(\d+)\]/m.exec(repoFile('default/inputs.conf'));
      assert.ok(stanza);
      assert.ok((splunk.ports as string[]).map(parsePort).some((p) => p.target === Number(stanza[1])));
    });

    it('keeps the indexes in the named volume splunk-indexes, mounted over $SPLUNK_DB', () => {
      assert.ok('splunk-indexes' in volumes);
      const mounts = (splunk.volumes as string[]).map((v) => v.split(':'));
      const indexes = mounts.find(([source]) => source === 'splunk-indexes');
      assert.ok(indexes, 'splunk-indexes is mounted');
      // $SPLUNK_DB is /opt/splunk/var/lib/splunk; the app's index paths are under it (default/indexes.conf)
      assert.ok('/opt/splunk/var/lib/splunk/security_logs/db'.startsWith(`${indexes[1]}/`), indexes[1]);
      assert.match(repoFile('default/indexes.conf'), /homePath = \$SPLUNK_DB\/security_logs\/db/);
      for (const [source] of mounts) assert.ok(source! in volumes, `${source} is a named volume (removed by docker compose down -v)`);
    });

    it('accepts the license and the general terms (both needed by 10.x images)', () => {
      assert.match(env.get('SPLUNK_START_ARGS') ?? '', /(^|\s)--accept-license(\s|$)/);
      assert.equal(env.get('SPLUNK_GENERAL_TERMS'), '--accept-sgt-current-at-splunk-com');
      assert.equal(env.get('SPLUNK_PASSWORD'), userEnv.SPLUNK_PASSWORD);
    });

    it('has a healthcheck: the image\'s checkstate.sh, with a start period for the first provisioning', () => {
      const hc = splunk.healthcheck as { test: string[]; interval: string; start_period: string; retries: number };
      assert.deepEqual(hc.test, ['CMD', '/sbin/checkstate.sh']);
      const seconds = (d: string) => Number(/^(\d+)m$/.exec(d)?.[1] ?? NaN) * 60 || Number(/^(\d+)s$/.exec(d)?.[1]);
      assert.ok(seconds(hc.start_period) >= 180, 'at least the image\'s own 3 minutes');
      assert.ok(seconds(hc.interval) * hc.retries >= 180);
    });

    it('installs the app from the package docker/Dockerfile copies into the image, named with package.json\'s version', () => {
      const appsUrl = env.get('SPLUNK_APPS_URL');
      assert.equal(appsUrl, `/opt/soar-edr/soar_edr-${packageVersion()}.tgz`);
      const copied = stage('splunk').copies.find((c) => c.sources.some((s) => s.endsWith('.tgz')));
      assert.ok(copied, 'the splunk stage copies a .tgz');
      assert.equal(copied.dest, appsUrl);
      assert.equal(copied.from, 'build');
    });
  });

  describe('the soar-init service (secrets from .env into storage/passwords)', () => {
    const { services } = resolved(userEnv);
    const init = services['soar-init']!;
    const env = environmentOf(init);

    it('runs docker/soar-init.sh from the cli image once splunk is healthy, and is not restarted', () => {
      builtFrom(init, 'cli');
      const cli = stage('cli');
      const script = cli.copies.find((c) => c.sources.includes('docker/soar-init.sh'));
      assert.ok(script);
      assert.deepEqual(init.entrypoint, ['sh', path.posix.join(script.dest, 'soar-init.sh')]);
      assert.deepEqual(init.depends_on, { splunk: { condition: 'service_healthy' } });
      assert.equal(init.restart, 'no');
    });

    it('reaches splunkd by the service name on 8089 and passes the secrets only as environment', () => {
      assert.equal(env.get('SPLUNK_HOST'), 'splunk');
      assert.equal(env.get('SPLUNK_PORT'), '8089');
      const raw = (parseYaml(composeText) as { services: Record<string, Service> }).services['soar-init']!;
      for (const [key, value] of environmentOf(raw)) {
        if (/PASSWORD|KEY|WEBHOOK/.test(key)) assert.match(value ?? '', new RegExp(`^\\$\\{${key}:[-?]`), `${key} comes from .env`);
      }
      // the names the script reads are exactly the ones compose passes
      const script = repoFile('docker/soar-init.sh');
      const read = [...script.matchAll(/\$\{(SOAR_[A-Z_]+_(?:KEY|URL)):-\}/g)].map((m) => m[1]);
      assert.deepEqual(read.sort(), [...env.keys()].filter((k) => k.startsWith('SOAR_')).sort());
      assert.equal(init.command, undefined);
      assert.ok(!JSON.stringify(init.entrypoint).includes('$'), 'no value on the command line');
    });
  });

  describe('the attack profile', () => {
    const { services } = resolved(userEnv);
    const attack = services.attack!;

    it('exists only in the profile "attack", built from the cli image, after splunk is healthy', () => {
      assert.deepEqual(attack.profiles, ['attack']);
      builtFrom(attack, 'cli');
      assert.deepEqual(attack.depends_on, { splunk: { condition: 'service_healthy' } });
      for (const [name, s] of Object.entries(services)) if (name !== 'attack') assert.equal(s.profiles, undefined, `${name} starts without a profile`);
    });

    it("runs the cli image's soar-edr generate against the splunk service's TCP 1514", () => {
      const entry = attack.entrypoint as string[];
      const cliEntry = stage('cli').instructions.find((i) => i.keyword === 'ENTRYPOINT')!;
      const image = JSON.parse(cliEntry.args) as string[];
      assert.deepEqual(entry.slice(0, image.length), image, 'the same node and CLI bundle as the image entrypoint');
      const args = entry.slice(image.length);
      assert.equal(args[0], 'generate');
      assert.equal(args[args.indexOf('--host') + 1], 'splunk');
      assert.equal(args[args.indexOf('--port') + 1], '1514');
    });

    it('its default options are accepted by the real CLI and produce a brute force of more than 10 failures, live in under a minute', () => {
      const entry = attack.entrypoint as string[];
      const command = attack.command as string[];
      // the same events as a backfill ending at a fixed time: at once, and with the scenario's own times
      const args = [...entry.slice(2), ...command, '--dry-run', '--seed', 'compose-test', '--backfill', '--end', '2025-12-06T10:00:00Z'];
      const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs'), ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      const count = Number(command[command.indexOf('--count') + 1]);
      assert.equal(lines.length, count);
      const failures = new Map<string, number>();
      for (const l of lines) {
        const m = /event_type=ssh_failed src_ip=(\S+)/.exec(l);
        if (m) failures.set(m[1]!, (failures.get(m[1]!) ?? 0) + 1);
      }
      const most = Math.max(...failures.values());
      assert.ok(most > 10, `the busiest address has ${most} failures`);
      for (const ip of failures.keys()) assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, '--family ipv4: a public IPv4 address the intel services know');
      // no --rate: sent live at the scenario's pace, which these stamps are; the detection's window is 15 minutes
      const stamps = lines.map((l) => Date.parse(`${l.slice(0, 10)}T${l.slice(11, 19)}Z`));
      const span = stamps[stamps.length - 1]! - stamps[0]!;
      assert.ok(span > 10_000 && span < 60_000, `the attack lasts ${span} ms`);
      assert.ok(!command.includes('--rate') && !command.includes('--speed') && !command.includes('--backfill'), 'live at the scenario pace');
    });

    it('npm run attack builds the CLI first, then sends exactly the options of this service, to 127.0.0.1:1514', () => {
      const scripts = (JSON.parse(repoFile('package.json')) as { scripts: Record<string, string> }).scripts;
      const steps = scripts.attack!.split('&&').map((step) => step.trim().split(/\s+/));
      // a fresh clone has no dist/: npm ci, then npm run attack must work
      assert.deepEqual(steps[0], ['npm', 'run', 'build', '--silent']);
      assert.equal(steps.length, 2);
      const [node, bundle, ...npmArgs] = steps[1]!;
      assert.equal(node, 'node');
      assert.equal(bundle, 'dist/cli/soar-edr.cjs');
      const entry = attack.entrypoint as string[];
      const composeArgs = [...entry.slice(2), ...(attack.command as string[])];
      /** the generate options as name -> value, --host left out (the service reaches splunk, npm the published port) */
      const options = (args: string[]): Map<string, string> => {
        assert.equal(args[0], 'generate');
        const out = new Map<string, string>();
        for (let i = 1; i < args.length; i += 2) {
          assert.match(args[i]!, /^--[a-z-]+$/, `an option name at ${i} of ${args.join(' ')}`);
          assert.ok(!out.has(args[i]!), `${args[i]} given once`);
          out.set(args[i]!, args[i + 1]!);
        }
        return out;
      };
      const fromNpm = options(npmArgs);
      const fromCompose = options(composeArgs);
      assert.equal(fromNpm.get('--host'), '127.0.0.1');
      assert.equal(fromCompose.get('--host'), 'splunk');
      fromNpm.delete('--host');
      fromCompose.delete('--host');
      assert.deepEqual([...fromNpm].sort(), [...fromCompose].sort());
      assert.equal(fromNpm.get('--port'), '1514');
      // the port the splunk service publishes on the host is the one npm run attack sends to
      assert.ok((services.splunk!.ports as string[]).some((p) => p.endsWith(':1514:1514')));
    });
  });
});
