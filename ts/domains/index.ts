/** Domains, as `eq.domains.*`: where features live, and the neighbourhoods `omega` sums over. */
export { FiniteDomain } from './finite.js';
export { GridDomain, type Window } from './grid.js';
export { LiftedDomain } from './lifted.js';
export { Neighbourhood, type NeighbourSpec } from './neighbourhood.js';
