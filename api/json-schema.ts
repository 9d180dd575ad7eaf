import { z } from 'zod';
import type { Component } from './route';

// zod 4's own JSON Schema output (z.toJSONSchema), in the dialect of OpenAPI 3.1 (JSON Schema
// 2020-12), for the document built in api/openapi.ts.

export type JsonSchema = Record<string, unknown>;

function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  // Refinements and transforms have no JSON Schema: what they check is said in the component's description.
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return json;
}

/** What a client may send. */
export const requestSchema = (schema: z.ZodType): JsonSchema => toJsonSchema(schema, 'input');

/** What the API answers. */
export const responseSchema = (schema: z.ZodType): JsonSchema => toJsonSchema(schema, 'output');

/** A component's schema, with its description and what JSON Schema can say of its refinements. */
export function componentSchema(c: Component, io: 'input' | 'output'): JsonSchema {
  return { ...toJsonSchema(c.schema, io), ...(c.description ? { description: c.description } : {}), ...c.jsonSchema };
}

/**
 * Query strings arrive as text; their parameters are documented with the parsed type (integers and
 * their bounds), required when the input schema requires them, and described by their `.meta()`.
 */
export function queryParameters(schema: z.ZodObject): JsonSchema[] {
  const { required = [] } = requestSchema(schema) as { required?: string[] };
  const { properties = {} } = responseSchema(schema) as { properties?: Record<string, JsonSchema> };
  return Object.entries(properties).map(([name, { description, ...prop }]) => ({
    name,
    in: 'query',
    required: required.includes(name),
    schema: prop,
    ...(description ? { description } : {}),
  }));
}
