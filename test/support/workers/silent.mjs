// Not a pool worker: a module that stays alive and never answers.
setInterval(() => {}, 1000);
