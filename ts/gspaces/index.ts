/**
 * Steerable CNNs on the plane (escnn's vocabulary): gspaces, representations, field types and
 * the kernel bases of the H-constraint. `eq.gspaces.rot2dOnR2(8)`, `eq.fieldType(gspace, reps)`.
 */
export { GSpace, rot2dOnR2, flipRot2dOnR2, trivialOnR2, gspaceByName } from './gspace.js';
export { FibreGroup, type PlaneElement, type IrrepId } from './group.js';
export { R2Rep } from './repr.js';
export { R2FieldType, fieldType, fieldTypeFromSpec, type FieldSpec } from './field.js';
export { basisParams, blockBasis, sampleBasis, gridPoints, canonicalSign, signProbe, type BasisOptions, type BasisParams, type BlockBasis, type Convention } from './kernels.js';
export { layout, expandReference, expandBias, type Layout, type Block } from './layout.js';
export { expandsFactored } from './expand.js';
