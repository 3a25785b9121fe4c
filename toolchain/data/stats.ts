// Counters of the dataset readers' work, for tests that check a bad file was refused before the work it
// would cost (bytes inflated, values converted, CSV lines counted and rows parsed), not by wall time.
export const readerStats = { bytesInflated: 0, valuesConverted: 0, csvLinesCounted: 0, csvRowsParsed: 0 };

export function resetReaderStats(): void {
  readerStats.bytesInflated = readerStats.valuesConverted = readerStats.csvLinesCounted = readerStats.csvRowsParsed = 0;
}
