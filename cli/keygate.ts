#!/usr/bin/env node
// `npx keygate …`: the operator CLI (README "Operator CLI"). Exit codes: 0 done, 1 failed (DynamoDB
// or AWS), 2 usage error, 3 not found. `--json` prints one JSON document on stdout; errors always go
// to stderr as one line. A plaintext key given to `keys find` is hashed in this process and never
// printed, logged or sent.
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { prefixesFromEnv } from '../shared/domain/api-key.ts';
import { auditLogQuery } from '../shared/domain/audit-query.ts';
import { ApiError } from '../shared/domain/errors.ts';
import { isOrganizationId } from '../shared/domain/ids.ts';
import { parseInput } from '../shared/domain/validation.ts';
import { keyQueryOf, mentionsKey } from '../shared/domain/key-query.ts';
import { CliError, describeFailure, EXIT } from './errors.ts';
import { resolveTarget, type Target } from './target.ts';

const HELP = `keygate: operate a Keygate stage or the local runtime

usage:
  keygate keys find <key | key id | display prefix>   whose key is this? (- reads the key from stdin)
  keygate keys revoke <key id> --reason <text>         revoke it now (as the API's DELETE does)
  keygate orgs show <org id>                           plan, limits, credits, members, key counts
  keygate usage <org id> [--days N]                    requests, rate-limited requests, credits per UTC day
  keygate audit <org id> [--action A] [--target ID] [--limit N] [--cursor C]
                                                       the organization's audit log, newest first
  keygate notices backfill [--dry-run] [--org ID]      once after upgrading: expiry notices for keys made before them
  keygate operators invite --email <address> --stage <stage>
                                                       the first operator of a deployed stage: invited into its
                                                       user pool (Cognito) and added to the operators group

target (first that applies):
  DYNAMODB_ENDPOINT=<url>   that DynamoDB, tables of stage --stage (default local)
  --stage <stage>           the deployed stack Keygate-<stage> (AWS credentials from the environment)
  (neither)                 the local runtime started by npm start

options:
  --json              machine-readable output
  --stage <stage>     stage name
  --region <region>   AWS region (default: AWS_REGION)
  --reason <text>     why a key is revoked (required for revoke)
  --operator <name>   who revokes (default: your OS user name)
  --days <N>          days of usage, 1-90 (default 30)
  --action, --target, --limit (1-100, default 50), --cursor   audit log filters and paging
  --dry-run           notices backfill: count what it would change, write nothing
  --org <org id>      notices backfill: only this organization's keys
  --email <address>   operators invite: whom to invite
  -h, --help          this help

Prefer \`keygate keys find -\` and paste the key: an argument stays in your shell history.
exit codes: 0 done, 1 failed, 2 usage error, 3 not found`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean', default: false },
        stage: { type: 'string' },
        region: { type: 'string' },
        reason: { type: 'string' },
        operator: { type: 'string' },
        days: { type: 'string' },
        action: { type: 'string' },
        target: { type: 'string' },
        limit: { type: 'string' },
        cursor: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        org: { type: 'string' },
        email: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    // parseArgs names the option, never a positional (which may be a key).
    throw new CliError(`${(error as Error).message.split('\n')[0]} (keygate --help)`, EXIT.usage);
  }
}

function daysOf(value: string | undefined): number {
  if (value === undefined) return 30;
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 90) throw new CliError('--days must be an integer from 1 to 90', EXIT.usage);
  return days;
}

/** The audit filters, checked by the same schema as the API's audit-log query. */
function auditOptions(values: { action?: string; target?: string; limit?: string; cursor?: string }) {
  try {
    const query = parseInput(auditLogQuery, {
      ...(values.limit !== undefined ? { limit: values.limit } : {}),
      ...(values.cursor !== undefined ? { cursor: values.cursor } : {}),
      ...(values.action !== undefined ? { action: values.action } : {}),
      ...(values.target !== undefined ? { targetId: values.target } : {}),
    });
    return {
      limit: query.limit,
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      ...(query.action !== undefined ? { action: query.action } : {}),
      ...(query.targetId !== undefined ? { targetId: query.targetId } : {}),
    };
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const details = (error.extra.details ?? []).map((d) => `--${d.field === 'targetId' ? 'target' : d.field} ${d.message}`);
    throw new CliError(details.join('; ') || error.message, EXIT.usage);
  }
}

function one(positionals: string[], at: number, what: string): string {
  const value = positionals[at];
  if (value === undefined || value === '') throw new CliError(`missing ${what} (keygate --help)`, EXIT.usage);
  if (positionals.length > at + 1) throw new CliError(`too many arguments (keygate --help)`, EXIT.usage);
  return value;
}

async function inviteOperator(values: { email?: string; stage?: string; region?: string; json: boolean }, positionals: string[]): Promise<string> {
  if (positionals.length > 2) throw new CliError('operators invite takes no arguments, only --email and --stage (keygate --help)', EXIT.usage);
  if (!values.email || !values.stage) throw new CliError('operators invite needs --email <address> and --stage <stage> (keygate --help)', EXIT.usage);
  const region = values.region ?? process.env.AWS_REGION;
  const { inviteOperatorCommand } = await import('./invite-operator.ts');
  const output = await inviteOperatorCommand({ email: values.email, stage: values.stage, ...(region ? { region } : {}) });
  return values.json ? JSON.stringify(output.json, null, 2) : output.text;
}

async function run(argv: string[]): Promise<string> {
  const { values, positionals } = parse(argv);
  if (values.help || positionals.length === 0) return HELP;
  const command = positionals.slice(0, ['keys', 'orgs', 'notices', 'operators'].includes(positionals[0]!) ? 2 : 1).join(' ');
  const known = ['keys find', 'keys revoke', 'orgs show', 'usage', 'audit', 'notices backfill', 'operators invite'];
  if (!known.includes(command)) throw new CliError(`unknown command "${command}" (keygate --help)`, EXIT.usage);
  // A deployed stage's user pool, not its tables: no target to resolve.
  if (command === 'operators invite') return inviteOperator(values, positionals);
  const argAt = command.includes(' ') ? 2 : 1;

  // Everything about the arguments is checked before anything is read or resolved.
  if (command === 'notices backfill' && positionals.length > argAt) throw new CliError('notices backfill takes no arguments (keygate --help)', EXIT.usage);
  if (values.org !== undefined && !isOrganizationId(values.org)) throw new CliError('--org must be an organization id (org_…)', EXIT.usage);
  let argument = command === 'notices backfill' ? '' : one(positionals, argAt, command === 'keys find' ? 'a key, key id or display prefix' : command === 'keys revoke' ? 'a key id' : 'an organization id');
  // An organization id is checked before it reaches a table key (an oversized or odd one would be a DynamoDB error).
  if (['orgs show', 'usage', 'audit'].includes(command) && !isOrganizationId(argument)) {
    throw new CliError('<org id> must be an organization id (org_…)', EXIT.usage);
  }
  const days = daysOf(values.days);
  const auditQuery = auditOptions(values);
  const reason = values.reason?.trim();
  // --operator becomes the audit entry's actor id: a short name, never a pasted key or control characters.
  const operator = values.operator?.trim();
  if (operator !== undefined) {
    if (!/^[A-Za-z0-9._@+-]{1,64}$/.test(operator)) {
      throw new CliError('--operator must be a name of 1 to 64 letters, digits or . _ @ + -', EXIT.usage);
    }
    if (mentionsKey(operator, prefixesFromEnv())) throw new CliError('--operator must not contain an API key', EXIT.usage);
  }
  if (command === 'keys revoke') {
    if (!reason) throw new CliError('keys revoke needs --reason <text> (it is kept with the revoke)', EXIT.usage);
    if (reason.length > 500 || /[\u0000-\u001f\u007f]/.test(reason)) throw new CliError('--reason must be one line of at most 500 characters', EXIT.usage);
    // The reason is stored on the key and in the audit log: a pasted key must never get there.
    if (mentionsKey(reason, prefixesFromEnv())) throw new CliError('--reason must not contain an API key: name the key by its id', EXIT.usage);
  }
  if (command === 'keys find') {
    if (argument === '-') argument = await readStdin();
    const query = keyQueryOf(argument, prefixesFromEnv());
    if (query.kind === 'invalid') throw new CliError(query.reason, EXIT.usage);
  }

  const target: Target = await resolveTarget({
    ...(values.stage !== undefined ? { stage: values.stage } : {}),
    ...(values.region !== undefined ? { region: values.region } : {}),
  });
  // The shared/db modules read these when they load: no logs or metrics on this terminal.
  Object.assign(process.env, target.env, { LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });
  const commands = await import('./commands.ts');
  let output: Awaited<ReturnType<typeof commands.keysFind>>;
  try {
    switch (command) {
      case 'keys find':
        output = await commands.keysFind(argument);
        break;
      case 'keys revoke':
        output = await commands.keysRevoke(argument, { name: operator || userInfo().username, reason: reason! }, target.description);
        break;
      case 'orgs show':
        output = await commands.orgsShow(argument);
        break;
      case 'audit':
        output = await commands.audit(argument, auditQuery);
        break;
      case 'notices backfill':
        output = await commands.noticesBackfill(
          { dryRun: values['dry-run'], ...(values.org !== undefined ? { organizationId: values.org } : {}) },
          target.description,
          // Progress goes to stderr, so stdout stays the one result (and the one JSON document with --json).
          values.json ? undefined : (line) => process.stderr.write(`${line}\n`),
        );
        break;
      default:
        output = await commands.usage(argument, days);
    }
  } catch (error) {
    throw describeFailure(error, target.description);
  }
  return values.json ? JSON.stringify(output.json, null, 2) : output.text;
}

try {
  process.stdout.write(`${await run(process.argv.slice(2))}\n`);
  process.exitCode = EXIT.ok;
} catch (error) {
  const failure = describeFailure(error, 'the target');
  process.stderr.write(`keygate: ${failure.message}\n`);
  process.exitCode = failure.exitCode;
}
