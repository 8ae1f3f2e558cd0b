//! The OpenAPI document at `/api/openapi.json`: a well-formed OpenAPI 3.1 document, that
//! describes exactly the routes the router serves, and whose schemas are what the
//! handlers answer. The fuzzing (scripts/app-fuzz.py) generates its requests from this
//! document and holds every answer to it; these tests keep the document worth that.

use std::collections::{BTreeMap, BTreeSet};

use modu_app::configuration::Settings;
use modu_app::state::Limits;
use reqwest::header::{CONTENT_TYPE, ORIGIN};
use reqwest::multipart::Form;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, resume_form, small_jpeg, spawn_app, with_image};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(app: &TestApp) -> Value {
    let resp = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `METHOD /path` of every operation the document describes.
fn described(doc: &Value) -> BTreeSet<String> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    operations
}

/// The paths the router serves, in its own spelling (`/media/{*key}`). axum has no
/// public list of a router's routes, but its `Debug` output prints its path table
/// (`path_router`, before the fallback's) as `RouteId(n): "/path"`; should that change,
/// no path is found and the test says so rather than passing on an empty list.
fn served_paths() -> BTreeSet<String> {
    let limits = Limits::from_settings(&Settings::defaults());
    let (router, _) = modu_app::routes::described(&limits).split_for_parts();
    let printed = format!("{router:?}");
    let table = printed
        .split_once("path_router:")
        .and_then(|(_, rest)| rest.split_once("fallback_router:"))
        .map_or("", |(table, _)| table);
    let mut paths = BTreeSet::new();
    for (at, _) in table.match_indices("RouteId(") {
        let rest = &table[at..];
        let Some(close) = rest.find(')') else {
            continue;
        };
        if let Some(quoted) = rest[close + 1..].strip_prefix(": \"")
            && let Some(end) = quoted.find('"')
        {
            paths.insert(quoted[..end].to_owned());
        }
    }
    assert!(
        paths.contains("/healthz") && paths.contains("/api/resumes/{id}"),
        "no route found in the router's Debug output; has its format changed? {printed}"
    );
    paths
}

/// The router's `/media/{*key}` (a catch-all) is OpenAPI's `/media/{key}`.
fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// A concrete path for a template: any value will do, the route only has to match.
fn concrete(axum_path: &str) -> String {
    axum_path
        .replace("{id}", "01960000-0000-7000-8000-000000000000")
        .replace("{*key}", "resumes/a/b.png")
}

/// The methods a path takes, as the service itself says: a method it does not take is
/// answered 405 with `Allow` listing those it does (HEAD comes with every GET).
async fn methods_served(app: &TestApp, axum_path: &str) -> BTreeSet<String> {
    let resp = app
        .client
        .request(Method::OPTIONS, app.url(&concrete(axum_path)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{axum_path}");
    let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
    allow
        .split(',')
        .map(str::trim)
        .filter(|m| *m != "HEAD")
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_route_served_is_described_and_nothing_else() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut served = BTreeSet::new();
    for path in served_paths() {
        for method in methods_served(&app, &path).await {
            served.insert(format!("{method} {}", openapi_path(&path)));
        }
    }
    let described = described(&doc);
    let undescribed: Vec<_> = served.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        undescribed.is_empty(),
        "served without a description (register it with routes!): {undescribed:?}"
    );
    assert!(
        unserved.is_empty(),
        "described but not served: {unserved:?}"
    );
}

/// Every `$ref` in `value`, with where it was found.
fn refs<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref"
                    && let Some(target) = inner.as_str()
                {
                    found.push((at.clone(), target));
                }
                refs(inner, format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                refs(inner, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

#[tokio::test]
async fn the_document_is_well_formed_openapi_3_1() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "modu-app");
    assert!(doc["info"]["version"].is_string());

    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    for (at, target) in &found {
        assert!(
            resolve(&doc, target).is_some(),
            "{at}: $ref {target} resolves to nothing"
        );
    }

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "modu_session");

    let mut ids = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let in_path: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|p| p.split('}').next())
            .collect();
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let name = format!("{method} {path}");
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id, name.clone()).is_none(), "{id} twice");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{name}: no response");
            let params: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(params, in_path, "{name}: path parameters");
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.get(scheme).is_some(), "{name}: no scheme {scheme}");
                }
            }
            // Every write may meet the cross-site check, whatever its handler says.
            if ["post", "patch", "delete", "put"].contains(&method) {
                assert!(responses.contains_key("403"), "{name}: no 403");
            }
        }
    }
    // Links name operations that exist.
    let mut links = Vec::new();
    collect_links(&doc["paths"], &mut links);
    assert!(!links.is_empty());
    for target in links {
        assert!(ids.contains_key(target.as_str()), "a link to {target}");
    }
}

fn collect_links(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(links) = map.get("links").and_then(Value::as_object) {
                for link in links.values() {
                    found.push(link["operationId"].as_str().unwrap().to_owned());
                }
            }
            map.values().for_each(|v| collect_links(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_links(v, found)),
        _ => {}
    }
}

/// Does `value` conform to `schema`? The subset of JSON Schema the document uses
/// (`$ref`, `type` alone or as a list, `required`, `properties`, `items`, `oneOf`,
/// `enum`), checked strictly: an object holding a property its schema does not name
/// fails, so a field a handler adds without describing it is caught.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(doc, target).ok_or(format!("{at}: {target} resolves to nothing"))?;
        return conforms(doc, target, value, at);
    }
    if let Some(choices) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = choices
            .iter()
            .filter(|s| conforms(doc, s, value, at).is_ok())
            .count();
        return match matching {
            1 => Ok(()),
            n => Err(format!("{at}: {value} matches {n} of oneOf")),
        };
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = |t: &&str| *t == kind || (*t == "number" && kind == "integer");
    if !types.is_empty() && !types.iter().any(fits) {
        return Err(format!("{at}: a {kind} where the schema says {types:?}"));
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                if !map.contains_key(name) {
                    return Err(format!("{at}: {name} is missing"));
                }
            }
            if let Some(properties) = properties {
                for (name, inner) in map {
                    let property = properties
                        .get(name)
                        .ok_or(format!("{at}: {name} is not described"))?;
                    conforms(doc, property, inner, &format!("{at}.{name}"))?;
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    conforms(doc, item_schema, item, &format!("{at}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Holds an answer to the document: its status is listed for the operation, its
/// content type is one described for that status, its JSON body conforms to the schema
/// and the headers the document names are there. Returns the body (`null` if none).
async fn as_described(doc: &Value, operation: &str, resp: Response) -> Value {
    let (method, path) = operation.split_once(' ').unwrap();
    let status = resp.status();
    let described = &doc["paths"][path][method.to_lowercase()]["responses"][status.as_str()];
    assert!(
        described.is_object(),
        "{operation} answered {status}, which the document does not list"
    );
    for header in described["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|h| h.0)
    {
        assert!(
            resp.headers().contains_key(header.as_str()),
            "{operation} {status}: no {header} header"
        );
    }
    let content_type = resp.headers().get(CONTENT_TYPE).map(|v| {
        v.to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_owned()
    });
    let bytes = resp.bytes().await.unwrap();
    let Some(content) = described["content"].as_object() else {
        assert!(
            bytes.is_empty(),
            "{operation} {status}: a body none is described for"
        );
        return Value::Null;
    };
    let content_type = content_type.expect("a content type");
    let media = content
        .get(&content_type)
        .unwrap_or_else(|| panic!("{operation} {status}: {content_type} is not described"));
    let Some(schema) = media.get("schema") else {
        return Value::Null;
    };
    let body: Value = serde_json::from_slice(&bytes).expect("a JSON body");
    if let Err(e) = conforms(doc, schema, &body, "body") {
        panic!("{operation} {status}: {e}\n{body:#}");
    }
    body
}

#[tokio::test]
async fn what_the_handlers_answer_is_what_the_document_describes() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let get = |path: &str| app.client.get(app.url(path));

    for path in ["/healthz", "/readyz", "/api/tasks", "/api/openapi.json"] {
        as_described(
            &doc,
            &format!("GET {path}"),
            get(path).send().await.unwrap(),
        )
        .await;
    }

    let signup = |name: &str| {
        app.client.post(app.url("/api/auth/signup")).json(&json!({
            "username": name, "password": PASSWORD, "password_confirm": PASSWORD
        }))
    };
    let session = as_described(
        &doc,
        "POST /api/auth/signup",
        signup("kim").send().await.unwrap(),
    )
    .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let taken = signup("kim").send().await.unwrap();
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    as_described(&doc, "POST /api/auth/signup", taken).await;
    let as_text = app
        .client
        .post(app.url("/api/auth/signup"))
        .header(CONTENT_TYPE, "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    as_described(&doc, "POST /api/auth/signup", as_text).await;
    let wrong = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": "kim", "password": "not the password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    as_described(&doc, "POST /api/auth/login", wrong).await;
    let other = app.user("lee").await;

    let me = get("/api/auth/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    as_described(&doc, "GET /api/auth/me", me).await;
    as_described(
        &doc,
        "GET /api/auth/me",
        get("/api/auth/me").send().await.unwrap(),
    )
    .await;

    let create = |form: Form| app.client.post(app.url("/api/resumes")).multipart(form);
    let saved = create(resume_form())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::CREATED);
    let resume = as_described(&doc, "POST /api/resumes", saved).await;
    let id = resume["id"].as_str().unwrap().to_owned();
    let no_name = Form::new().text("motivation", "m").text("task", "3");
    let refused = create(no_name).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    as_described(&doc, "POST /api/resumes", refused).await;
    let anonymous = create(resume_form()).send().await.unwrap();
    as_described(&doc, "POST /api/resumes", anonymous).await;
    let cross_site = create(resume_form())
        .header(ORIGIN, "https://elsewhere.example")
        .header("cookie", format!("modu_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    as_described(&doc, "POST /api/resumes", cross_site).await;

    for query in ["", "?limit=1", "?limit=0", "?limit=1&limit=2"] {
        let page = get(&format!("/api/resumes{query}")).send().await.unwrap();
        as_described(&doc, "GET /api/resumes", page).await;
    }
    let one = format!("/api/resumes/{id}");
    as_described(
        &doc,
        "GET /api/resumes/{id}",
        get(&one).send().await.unwrap(),
    )
    .await;
    let missing = get("/api/resumes/01960000-0000-7000-8000-000000000000");
    as_described(&doc, "GET /api/resumes/{id}", missing.send().await.unwrap()).await;
    let key = resume["images"][0]["key"].as_str().unwrap();
    let image = get(&format!("/media/{key}")).send().await.unwrap();
    as_described(&doc, "GET /media/{key}", image).await;
    let gone = get("/media/resumes/a/b.png").send().await.unwrap();
    as_described(&doc, "GET /media/{key}", gone).await;

    let renamed = app.edit_json(&token, &id, json!({ "name": "Kim Minji", "task": 2 }));
    as_described(&doc, "PATCH /api/resumes/{id}", renamed.await).await;
    let form = with_image(Form::new(), small_jpeg(), "c.jpg", "image/jpeg")
        .text("remove_image", key.to_owned());
    let edited = app.edit_form(&token, &id, form).await;
    assert_eq!(edited.status(), StatusCode::OK);
    let edited = as_described(&doc, "PATCH /api/resumes/{id}", edited).await;
    assert_eq!(edited["images"].as_array().unwrap().len(), 2);
    let not_owner = app.edit_json(&other, &id, json!({ "name": "Lee" })).await;
    assert_eq!(not_owner.status(), StatusCode::FORBIDDEN);
    as_described(&doc, "PATCH /api/resumes/{id}", not_owner).await;
    let deleted = app.delete_resume(&token, &id).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    as_described(&doc, "DELETE /api/resumes/{id}", deleted).await;

    let logout = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    as_described(&doc, "POST /api/auth/logout", logout).await;
}

/// The job categories are listed where a form names one, from the database.
#[tokio::test]
async fn forms_list_the_job_categories() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let tasks = app.get_json("/api/tasks").await;
    let names: Vec<&Value> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["name"])
        .collect();
    assert_eq!(names.len(), 5);
    let listed = doc["components"]["schemas"]["ResumeForm"]["properties"]["task"]["enum"]
        .as_array()
        .expect("an enum of tasks")
        .clone();
    assert!(listed.contains(&json!("3")), "{listed:?}");
    for name in names {
        assert!(listed.contains(name), "{name} in {listed:?}");
    }
}
