/**
 * Group commit for request handlers: writes requested while earlier ones are in flight wait
 * and go together as ONE write; a busy service writes what piled up during the previous
 * round trip, so the number of statements and commits falls as load rises instead of growing
 * with it. Without `lingerMs` an idle service writes each request at once; with it, a
 * request that finds nothing in flight waits that long for others to join it.
 *
 * `write` gets the items in arrival order and returns one result per item, in that order.
 * When a group fails, each of its items is written alone, so one bad item fails only its own
 * request and the others are unaffected.
 */
export function groupCommit<I, O>(
  write: (items: I[]) => Promise<O[]>,
  options: { maxGroup?: number; maxInFlight?: number; lingerMs?: number } = {},
): (item: I) => Promise<O> {
  const maxGroup = options.maxGroup ?? 100;
  const maxInFlight = options.maxInFlight ?? 2;
  const lingerMs = options.lingerMs ?? 0;
  let lingering = false;
  const waiting: Array<{ item: I; resolve: (o: O) => void; reject: (e: unknown) => void }> = [];
  let inFlight = 0;

  const settleAlone = async (entry: (typeof waiting)[number]): Promise<void> => {
    try {
      const [result] = await write([entry.item]);
      entry.resolve(result as O);
    } catch (err) {
      entry.reject(err);
    }
  };

  const pump = (): void => {
    // With a linger, the first request after a quiet spell waits that long for company; later
    // ones gather while the write before them is in flight.
    if (lingerMs > 0 && inFlight === 0 && waiting.length > 0 && waiting.length < maxGroup) {
      if (lingering) return;
      lingering = true;
      setTimeout(() => {
        lingering = false;
        flush();
      }, lingerMs);
      return;
    }
    flush();
  };

  const flush = (): void => {
    while (inFlight < maxInFlight && waiting.length > 0) {
      const group = waiting.splice(0, maxGroup);
      inFlight++;
      void (async () => {
        try {
          if (group.length === 1) return await settleAlone(group[0]!);
          let results: O[];
          try {
            results = await write(group.map((g) => g.item));
          } catch {
            await Promise.all(group.map(settleAlone));
            return;
          }
          group.forEach((g, i) => g.resolve(results[i] as O));
        } finally {
          inFlight--;
          // Whoever arrived meanwhile has waited already: written at once.
          flush();
        }
      })();
    }
  };

  return (item: I) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      pump();
    });
}
