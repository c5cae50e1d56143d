/** The bench's figures: nearest-rank percentiles and rounding for the printed tables. */
export const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

export const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
