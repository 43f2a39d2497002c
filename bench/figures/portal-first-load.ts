// The portal's first page load: the scripts index.html loads, gzip against the budget. Needs neither DynamoDB nor the API.
import { buildPortal, PORTAL_BUILD } from '../../web/build.ts';
import { PORTAL_FIRST_LOAD_GZIP_BUDGET, portalFirstLoadJs } from '../portal-size.ts';
import { kib, ratio } from '../stats.ts';
import { detail, figure, rows, section } from './report.ts';

export async function portalFirstLoadFigure(): Promise<void> {
  await figure('portal first-load JS size', async () => {
    section('Portal first page load (web/dist/portal, built now with Vite): the scripts index.html loads');
    await buildPortal();
    const load = portalFirstLoadJs(PORTAL_BUILD);
    for (const f of load.files) detail(`${f.path}: ${f.bytes} bytes minified, ${f.gzip} bytes gzip (level 9)`);
    rows.push({
      figure: 'portal first-load JS gzip / budget',
      measured: `${kib(load.gzip)} / ${kib(PORTAL_FIRST_LOAD_GZIP_BUDGET)} = ${ratio(load.gzip / PORTAL_FIRST_LOAD_GZIP_BUDGET)}`,
      target: '<= 1.00',
      status: load.gzip <= PORTAL_FIRST_LOAD_GZIP_BUDGET ? 'PASS' : 'GAP',
    });
  });
}
