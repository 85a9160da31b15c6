//! The OpenAPI 3.0 document of the API, generated from [`ROUTES`]: each endpoint's query,
//! body and response schemas are those of the types its handler parses and writes.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::error::Body as ErrorBody;
use super::routes::{Endpoint, ROUTES};

/// The document, as served at `/openapi.json`.
pub fn document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let error = generator.subschema_for::<ErrorBody<'static>>();
    let mut paths = Map::new();
    for route in ROUTES {
        let mut item = Map::new();
        for endpoint in route.endpoints {
            item.insert(
                endpoint.method.to_ascii_lowercase(),
                operation(route.path, endpoint, &mut generator, &error),
            );
        }
        paths.insert(route.path.to_owned(), Value::Object(item));
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "mlstore",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Model registry, prediction store and monitoring over HTTP. Errors \
                            share one shape (Error). Send `Authorization: Bearer TOKEN` when \
                            the server has tokens: scope read for GET, write for the other \
                            methods, admin to delete a version.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

fn operation(path: &str, endpoint: &Endpoint, g: &mut SchemaGenerator, error: &Schema) -> Value {
    let mut parameters = Vec::new();
    for segment in path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            parameters.push(json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": "percent-encoded; may hold '/' as %2F",
                "schema": {"type": "string"},
            }));
        }
    }
    if let Some(query) = endpoint.query {
        let schema = query(g);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let mut property = property.clone();
                let description = property
                    .as_object_mut()
                    .and_then(|p| p.remove("description"));
                let mut parameter = json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(&name.as_str()),
                    "schema": property,
                });
                if let Some(d) = description {
                    parameter["description"] = d;
                }
                parameters.push(parameter);
            }
        }
    }
    let success = match (endpoint.response, path) {
        (_, "/metrics") => json!({
            "description": "Prometheus text format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }),
        (_, "/openapi.json") => json!({
            "description": "this document",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }),
        (Some(response), _) => json!({
            "description": "success",
            "content": {"application/json": {"schema": response(g)}},
        }),
        (None, _) => json!({"description": "done, no body"}),
    };
    let mut op = json!({
        "summary": endpoint.summary,
        "operationId": operation_id(endpoint.method, path),
        "parameters": parameters,
        "responses": {
            endpoint.status.to_string(): success,
            "default": {
                "description": "an error (4xx, 5xx)",
                "content": {"application/json": {"schema": error}},
            },
        },
    });
    if let Some(body) = endpoint.body {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": body(g)}},
        });
    }
    if matches!(path, "/healthz" | "/readyz" | "/openapi.json") {
        op["security"] = json!([]);
    } else {
        op["security"] = json!([{"bearer": []}]);
    }
    op
}

/// `get_v1_models_name_versions_version`: unique per method and path.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for part in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !part.is_empty() {
            id.push('_');
            id.push_str(part);
        }
    }
    id
}

/// The schema of a query type, inline and in the OpenAPI flavour (for its properties).
pub(crate) fn query_schema<T: JsonSchema>() -> Schema {
    SchemaSettings::openapi3()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .root_schema_for::<T>()
}
