/**
 * How a representation was built: `directSum` and `tensorProduct` record their parts here, so
 * the operator-space solver (ts/space/) can split a representation into sums of tensor products
 * of atoms and solve small Kronecker-structured problems instead of one large one. A
 * representation built any other way is an atom.
 */
export interface Structure {
  kind: 'sum' | 'product';
  parts: readonly object[];
}

const registry = new WeakMap<object, Structure>();

export function recordStructure(rep: object, kind: Structure['kind'], parts: readonly object[]): void {
  registry.set(rep, { kind, parts: [...parts] });
}

export function structureOf(rep: object): Structure | undefined {
  return registry.get(rep);
}
