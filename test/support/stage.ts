export const TEST_STAGE = 'test';
