// Members by email in AWS: only the management function may look users up and invite them, with
// exactly cognito-idp:ListUsers and cognito-idp:AdminCreateUser on the portal's user pool, and its
// environment selects the Cognito directory (shared/users/cognito-directory.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import { DEPLOYED_FUNCTIONS } from '../../infra/constructs/function-specs.ts';
import { actions, functionByName, roleStatements, single, synthBeforeAll } from '../support/stack.ts';

describe('user directory grants', () => {
  const s = synthBeforeAll();
  let poolId: string;
  beforeAll(() => {
    [poolId] = single(s.resources, 'AWS::Cognito::UserPool');
  });

  const cognitoStatements = (name: string) =>
    roleStatements(s, name).filter((st) => actions(st).some((a) => a.startsWith('cognito-idp:')));

  it('the management function may list users and create (invite) users on the user pool, nothing more', () => {
    const statements = cognitoStatements('management');
    expect(statements).toHaveLength(1);
    expect(actions(statements[0]!).sort()).toEqual(['cognito-idp:AdminCreateUser', 'cognito-idp:ListUsers']);
    expect(statements[0]!.Resource).toEqual({ 'Fn::GetAtt': [poolId, 'Arn'] });
  });

  it('the management function is configured for the Cognito directory of that pool', () => {
    const env = functionByName(s, 'management')[1].Properties!.Environment.Variables;
    expect(env.USER_DIRECTORY).toBe('cognito');
    expect(env.USER_POOL_ID).toEqual({ Ref: poolId });
  });

  it.each(DEPLOYED_FUNCTIONS.filter((n) => n !== 'management'))('%s has no user-pool access and no directory', (name) => {
    expect(cognitoStatements(name)).toEqual([]);
    const env = functionByName(s, name)[1].Properties!.Environment.Variables;
    expect(env.USER_DIRECTORY).toBeUndefined();
    expect(env.USER_POOL_ID).toBeUndefined();
  });
});
