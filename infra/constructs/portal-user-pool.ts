// The user pool behind portal tokens (docs/api.md "Authentication"). Users are invited, never self-signed-up;
// `cognito:groups` containing `operators` marks platform staff. The management function verifies
// these JWTs itself against the pool's JWKS (see api.ts for why API Gateway does not).
// Sign-in is Cognito managed login on a user-pool domain; the portal's app client runs the
// authorization-code flow with PKCE (a public client: no secret), back to the portal's URL.
import { Aws, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { OPERATORS_GROUP } from '../../shared/domain/roles.ts';
import { KeygateFunction } from './keygate-function.ts';
import { acknowledge } from './nag.ts';

export interface PortalUserPoolProps {
  stage: string;
  /** Cognito deletion protection (context `deletionProtection`); see KeygateTablesProps. */
  deletionProtection: boolean;
  /**
   * Send the pool's email (invitations, password resets) through SES from this verified address
   * (context `sesFromAddress`); without it Cognito's own email, a few messages a day, for trying out.
   */
  ses?: { fromAddress: string; identity: string };
}

export class PortalUserPool extends Construct {
  readonly userPool: cognito.UserPool;
  /** The managed login domain: https://keygate-<stage>-<stack id>.auth.<region>.amazoncognito.com */
  readonly domain: cognito.UserPoolDomain;
  /** The portal's app client, created by addPortalClient once the portal's URL is known. */
  client!: cognito.UserPoolClient;
  /** The `iss` of the pool's tokens: https://cognito-idp.<region>.amazonaws.com/<userPoolId>. */
  readonly issuer: string;
  /** The pre-token-generation trigger that keeps `operators` for TOTP users only. */
  readonly operatorTokens: KeygateFunction;

  constructor(scope: Construct, id: string, props: PortalUserPoolProps) {
    super(scope, id);

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      userPoolName: `keygate-${props.stage}-portal`,
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      // Not `required`: Cognito refuses an app client that cannot write a required attribute
      // ("Invalid write attributes"), and the portal client must not write `email`. Every user
      // still has one: it is the username (signInAliases), set when they are invited.
      standardAttributes: { email: { required: false, mutable: true } },
      // A changed email stays unverified and the original stays the user's email until the code
      // sent to the new one is entered: an address typed but never confirmed is nobody's.
      keepOriginal: { email: true },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { sms: false, otp: true },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      deletionProtection: props.deletionProtection,
      // Users and their organization memberships (keyed by `sub`) must survive a stack deletion; the
      // rollback of a failed first create still deletes the pool (RetainExceptOnCreate).
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    if (props.ses) {
      // Set on the CloudFormation resource: UserPoolEmail.withSES needs a region known at synth, and this stack has none.
      (this.userPool.node.defaultChild as cognito.CfnUserPool).emailConfiguration = {
        emailSendingAccount: 'DEVELOPER',
        from: props.ses.fromAddress,
        sourceArn: Stack.of(this).formatArn({ service: 'ses', resource: 'identity', resourceName: props.ses.identity }),
      };
    }
    acknowledge(
      this.userPool,
      {
        id: 'AwsSolutions-COG2',
        reason:
          'MFA is optional (TOTP, no SMS): owners may enroll, operators must (the pre-token-generation trigger drops ' +
          'the operators group from tokens of users without TOTP); requiring it for every portal user is a product ' +
          'decision left to the operator of each deployment.',
      },
      {
        id: 'AwsSolutions-COG8',
        reason:
          'The Plus feature plan (threat protection) is billed per monthly active user; the portal has few, invited ' +
          'users and the Essentials plan is used until an operator opts in.',
      },
    );

    // A domain prefix is global per region: the stage plus the first block of this stack's own
    // UUID (from its stack id), so two accounts deploying the same stage never collide.
    const stackUuidHead = Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))));
    this.domain = this.userPool.addDomain('Domain', {
      cognitoDomain: { domainPrefix: Fn.join('-', ['keygate', props.stage, stackUuidHead]) },
      managedLoginVersion: cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
    });

    new cognito.CfnUserPoolGroup(this, 'OperatorsGroup', {
      userPoolId: this.userPool.userPoolId,
      groupName: OPERATORS_GROUP,
      description: 'Platform staff: read any organization, change its plan, limits, billing and credits (TOTP MFA required)',
    });

    // Tokens carry `operators` only for users who sign in with TOTP (functions/operator-tokens.ts):
    // MFA is set per pool, not per group, so the group is dropped from the tokens of anyone else.
    this.operatorTokens = new KeygateFunction(this, 'OperatorTokens', {
      stage: props.stage,
      name: 'operatorTokens',
      entry: 'functions/operator-tokens.ts',
      memorySize: 256,
      timeout: Duration.seconds(5),
      environment: {},
    });
    this.userPool.addTrigger(cognito.UserPoolOperation.PRE_TOKEN_GENERATION, this.operatorTokens.function);
    // A policy of its own (not the role's default policy, which the function depends on): the pool
    // already depends on the function, so the grant on the pool must not be a dependency of it.
    new iam.Policy(this, 'OperatorTokensPolicy', {
      roles: [this.operatorTokens.role],
      statements: [new iam.PolicyStatement({ actions: ['cognito-idp:AdminGetUser'], resources: [this.userPool.userPoolArn] })],
    });

    this.issuer = `https://cognito-idp.${Stack.of(this).region}.amazonaws.com/${this.userPool.userPoolId}`;
  }

  /** Cognito's /logout: ends the managed-login session, then returns to a registered logout URL. */
  get signOutUrl(): string {
    return `${this.domain.baseUrl()}/logout`;
  }

  /**
   * The portal's app client: authorization code with PKCE (no client secret, as a browser cannot
   * keep one), callback `<portalUrl>/callback`, sign-out back to `<portalUrl>/`, and the managed
   * login branding for it (Cognito's default look).
   */
  addPortalClient(portalUrl: string, stage: string): cognito.UserPoolClient {
    this.client = this.userPool.addClient('PortalClient', {
      userPoolClientName: `keygate-${stage}-portal`,
      generateSecret: false,
      authFlows: { userSrp: true },
      // Users cannot change their own email through this client's tokens (UpdateUserAttributes):
      // invitations find members by email, so it changes only through the pool's verification.
      writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ fullname: true, preferredUsername: true }),
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
        callbackUrls: [`${portalUrl}/callback`],
        logoutUrls: [`${portalUrl}/`],
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });
    const branding = new cognito.CfnManagedLoginBranding(this, 'ManagedLoginBranding', {
      userPoolId: this.userPool.userPoolId,
      clientId: this.client.userPoolClientId,
      useCognitoProvidedValues: true,
    });
    branding.node.addDependency(this.domain); // branding needs the managed-login (version 2) domain

    return this.client;
  }

  /**
   * Let a function find users by email and invite new ones (shared/users/cognito-directory.ts):
   * exactly ListUsers and AdminCreateUser on this pool, and the environment that selects it.
   */
  bindUserDirectory(fn: lambda.Function): void {
    this.userPool.grant(fn, 'cognito-idp:ListUsers', 'cognito-idp:AdminCreateUser');
    fn.addEnvironment('USER_DIRECTORY', 'cognito');
    fn.addEnvironment('USER_POOL_ID', this.userPool.userPoolId);
  }
}
