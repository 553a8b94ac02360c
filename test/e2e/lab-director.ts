// The set-up most e2e suites share (not a test file itself): a lab, a director in its director
// namespace, the TUN made the lab's route to the VIP, a client — and all of it gone afterwards.
import { expect } from 'vitest';
import { Director, type DirectorOptions } from '../../host/director/director.ts';
import { Lab, type LabClient, type LabOptions } from '../../host/director/lab.ts';

export interface LabDirector { lab: Lab; dir: Director; client: LabClient }

/**
 * Lab.create(labOpts), Director.start(dirOpts(lab)), the director's TUN attached as the lab's
 * route to the VIP (attach false: a TAP director, or DR, where the lab routes on its own), then
 * a client. A step that fails undoes the ones before it.
 */
export async function startLabDirector(labOpts: LabOptions, dirOpts: (lab: Lab) => DirectorOptions, attach = true): Promise<LabDirector> {
  const lab = await Lab.create(labOpts);
  let dir: Director | undefined;
  try {
    dir = await Director.start(dirOpts(lab));
    if (attach) lab.attachDirector(dir.devName);
    return { lab, dir, client: await lab.client() };
  } catch (e) {
    stopLabDirector({ lab, dir });
    throw e;
  }
}

/** The client closed, the director stopped, the lab removed (whatever of them exists). */
export function stopLabDirector(s: Partial<LabDirector>): void {
  s.client?.close();
  s.dir?.stop();
  s.lab?.destroy();
}

/** `bytes` uploaded to the VIP's port 9 and downloaded from its port 80, each asserted whole and intact (sha256 as the server saw it); the two results, for their times. */
export async function transferIntact(client: LabClient, bytes: number): Promise<{ up: { ms: number }; down: { ms: number } }> {
  const up = await client.call('upload', { port: 9, bytes });
  expect(up.n).toBe(bytes);
  expect(up.hash).toBe(up.expected);
  const down = await client.call('download', { port: 80, bytes });
  expect(down.n).toBe(bytes);
  expect(down.hash).toBe(down.expected);
  return { up, down };
}
