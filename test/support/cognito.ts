// The AdminCreateUser input that invites an email into a pool: a verified email and Cognito's own
// invitation mail. The members directory and the first-operator command both send exactly this.
export const cognitoInvitation = (userPoolId: string, email: string) => ({
  UserPoolId: userPoolId,
  Username: email,
  UserAttributes: [
    { Name: 'email', Value: email },
    { Name: 'email_verified', Value: 'true' },
  ],
  DesiredDeliveryMediums: ['EMAIL'],
});
