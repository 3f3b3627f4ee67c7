/**
 * The outbox in this host's data folder, behind OutboxStore: respond/outbox.ts as the app
 * always had it (one sealed file per notification, claims by rename, delivered markers).
 */
import { drainOutbox, enqueueNotification, outboxSize, sendNotification, waitingNotifications } from '../respond/outbox';
import { guardStorage } from '../respond/storage-failure';
import { ok } from '../result';
import type { DataLayout } from '../store/data-dir';
import type { OutboxStore } from './shared-state';
import { asState } from './state-result';

export function fileOutbox(layout: DataLayout): OutboxStore {
  return {
    async size() {
      return guardStorage('reading the outbox', () => ok(outboxSize(layout)));
    },
    async enqueue(notification, nowMs) {
      return asState(enqueueNotification(layout, notification, nowMs));
    },
    async send(notification, deliver, options) {
      return asState(await sendNotification(layout, notification, deliver, options));
    },
    async drain(deliver, options) {
      return asState(await drainOutbox(layout, deliver, options));
    },
    async waiting() {
      return guardStorage('reading the outbox', () => ok(waitingNotifications(layout)));
    },
  };
}
