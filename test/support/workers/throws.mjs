// Not a pool worker: a module that throws as it starts.
throw new Error('this worker script throws at start');
