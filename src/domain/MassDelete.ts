/**
 * The mass-deletion rail shared by the controllers' resync and `gc`: deleting more than this many of `managed`
 * things at once needs the operator's override (docs/operations.md, "Mass deletion refused").
 */
export const massDeleteThreshold = (managed: number): number => Math.max(10, Math.floor(managed * 0.5))
