/**
 * Freezes `value` and every object and array inside it, so that one request's code can never
 * change what another request (or the cache) holds. Meant for JSON-shaped data (token claims).
 */
export function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) {
      deepFreeze(member);
    }
  }
  return value;
}
