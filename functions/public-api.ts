// Placeholder: implemented in its own change.
export const handler = async (): Promise<unknown> => ({ statusCode: 501, body: '' });
