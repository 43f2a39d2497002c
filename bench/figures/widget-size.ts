// The widget's size: widget.js gzip against its budget. Needs neither DynamoDB nor the API.
import { bundleWidget, gzipBytes, WIDGET_GZIP_BUDGET } from '../../web/build.ts';
import { kib, ratio } from '../stats.ts';
import { detail, figure, rows, section } from './report.ts';

export async function widgetSizeFigure(): Promise<void> {
  await figure('widget.js size', async () => {
    section('widget.js (web/build.ts, the bytes npm start and the CDN serve)');
    const bytes = await bundleWidget();
    const gzip = gzipBytes(bytes);
    detail(`${bytes.byteLength} bytes minified, ${gzip} bytes gzip (zlib default level)`);
    rows.push({
      figure: 'widget.js gzip / budget',
      measured: `${kib(gzip)} / ${kib(WIDGET_GZIP_BUDGET)} = ${ratio(gzip / WIDGET_GZIP_BUDGET)}`,
      target: '<= 1.00',
      status: gzip <= WIDGET_GZIP_BUDGET ? 'PASS' : 'GAP',
    });
  });
}
