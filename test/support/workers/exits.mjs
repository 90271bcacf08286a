// Not a pool worker: a module that runs and ends (the worker exits at once).
export const nothing = true;
