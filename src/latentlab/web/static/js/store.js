// The little state the panels share (the run's view, the plane point, the manifold tile, the tried image),
// held in one place: panels read it with get(), change it with set() and hear of changes by subscribing.

export function createStore(initial) {
  let state = Object.freeze({ ...initial });
  const listeners = new Set();
  return {
    get: () => state,
    // Listeners hear only of keys whose value really changed, with the list of those keys.
    set(patch) {
      const changed = Object.keys(patch).filter((k) => !Object.is(state[k], patch[k]));
      if (!changed.length) return;
      state = Object.freeze({ ...state, ...patch });
      for (const fn of [...listeners]) fn(state, changed);
    },
    // fn(state, changedKeys) after every effective set(), or only those touching one of `keys`.
    subscribe(fn, keys = null) {
      const listener = keys ? (s, changed) => { if (changed.some((k) => keys.includes(k))) fn(s, changed); } : fn;
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
