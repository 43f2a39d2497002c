// One day of usage as the usage route returns it (docs/api.md "Usage"): the db module sums it from the
// usage table, and the portal's client shows it.
export interface DailyUsage {
  date: string;
  requests: number;
  rateLimited: number;
  credits: number;
  inputTokens: number;
  outputTokens: number;
}
