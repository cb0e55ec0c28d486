/**
 * Total readers for JSON the tests look into loosely. Each gives `undefined` (or an empty list) where a
 * value does not have the shape asked for, never throwing: a body of the wrong shape then fails the
 * test's own assertion, which says what was expected, instead of a `TypeError` deep in a helper.
 */
import { Predicate } from "effect"

/** A JSON value, as `JSON.parse` gives it. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** Parses JSON text; throws on malformed text, as `JSON.parse` does. */
export const parse = (text: string): Json => JSON.parse(text)

/** The value under `key` of an object; undefined for a missing key or a value that is not an object. */
export const field = (value: unknown, key: string): unknown => (Predicate.isRecord(value) ? value[key] : undefined)

/** The value at `path` (object keys and array indexes); undefined as soon as the path leaves the value's shape. */
export const at = (value: unknown, ...path: ReadonlyArray<string | number>): unknown =>
  path.reduce<unknown>(
    (current, step) => (typeof step === "number" ? items(current)[step] : field(current, step)),
    value
  )

/** The elements of an array; empty for a value that is not an array. */
export const items = (value: unknown): ReadonlyArray<unknown> => (Array.isArray(value) ? value : [])

/** A string value, or undefined. */
export const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

/** A number value, or undefined. */
export const number = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined)
