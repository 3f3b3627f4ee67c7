/**
 * The packaged app and the loopback stubs most emulator tests run the action against: splunkd
 * (storage/passwords, and the KV store when asked), VirusTotal and Discord. Started in a
 * test file's before(), closed in its after(); each test's own secrets and environment stay
 * written out in the test.
 */
import { rmSync } from 'node:fs';
import { DiscordStub, startDiscordStub } from './discord-stub';
import { IntelStub, startVirusTotalStub, VtAnswer } from './intel-stubs';
import { InstalledApp, installApp, InstallOptions } from './splunkd-emulator';
import { RestStub, startRestStub, StubOptions } from './splunkd-rest-stub';

export interface ActionWorld {
  readonly app: InstalledApp;
  readonly rest: RestStub;
  readonly vt: IntelStub<VtAnswer>;
  readonly discord: DiscordStub;
}

export async function startActionWorld(options: { readonly rest?: StubOptions; readonly install?: InstallOptions } = {}): Promise<ActionWorld> {
  return {
    app: await installApp(undefined, options.install),
    rest: await startRestStub(options.rest),
    vt: await startVirusTotalStub(),
    discord: await startDiscordStub(),
  };
}

export async function closeActionWorld(w: ActionWorld): Promise<void> {
  await Promise.all([w.rest.close(), w.vt.close(), w.discord.close()]);
  rmSync(w.app.splunkHome, { recursive: true, force: true });
}
