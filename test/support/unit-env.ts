// Runs in each unit test file's process before it imports anything: every table's environment
// variable names the table by its logical name (what mocked-SDK tests expect as TableName), and
// logs stay quiet. A file that needs other values sets them in its own vi.hoisted block.
import { TABLES } from '../../shared/tables.ts';

for (const table of Object.values(TABLES)) process.env[table.envVar] = table.name;
process.env.LOG_LEVEL = 'SILENT';
