/**
 * The space of equivariant operators, as `eq.space.*` (docs/operator-space.md): equivariant
 * linear maps between representations (`hom`, `dimension`, representations from strings with
 * `rep`), and operators of the general layer `Phi_omega` as matrices (`operatorMatrix`), their
 * rank, whether two omegas give one operator, and the span of a family.
 */
export { hom, homDimension as dimension, clearCache, HomSpace, type HomBlock, type HomSummary } from './hom.js';
export { rep, specOf, REP_NAMES } from './spec.js';
export { MAX_DENSE_UNKNOWNS, type Method, type SolveOptions, type Block } from './solver.js';
export { symmetricEigen } from './kernels.js';
export { operatorMatrix, rank, sameOperator, span, compareSpans, type LinearMap, type OperatorMatrix, type OperatorOptions, type RankResult, type SameResult, type SpanResult, type SpanComparison } from './operators.js';
