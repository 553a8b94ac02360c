// The set-up most e2e suites share (not a test file itself): a lab, a director in its director
// namespace, the TUN made the lab's route to the VIP, a client — and all of it gone afterwards.
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
