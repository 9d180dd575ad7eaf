/** Moves to another view of the customer page (see main.tsx for the routes). */
export function navigate(hash: string): void {
  if (location.hash !== hash) location.hash = hash;
}
