//! Extractors that answer malformed input with our `ApiError` shape instead of axum's text.

use axum::Json;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::auth::AppError;

/// `Json<T>` for request bodies.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            // The body paused or arrived too slowly (or the client went away mid-body).
            Err(JsonRejection::BytesRejection(BytesRejection::FailedToBufferBody(
                FailedToBufferBody::UnknownBodyError(e),
            ))) => Err(AppError::new(
                StatusCode::REQUEST_TIMEOUT,
                e.body_text(),
                "send the body at once: this server gives up on a body that pauses for --body-timeout or arrives slower than --min-body-rate",
            )
            .logged_as("request body not read in time")),
            Err(rejection) => {
                let resolution = match &rejection {
                    JsonRejection::MissingJsonContentType(_) => {
                        "send the body with Content-Type: application/json"
                    }
                    JsonRejection::JsonSyntaxError(_) => "send a valid JSON body",
                    JsonRejection::JsonDataError(_) => {
                        "check the body's fields against the API (docs/protocol.md)"
                    }
                    _ => "send a JSON body",
                };
                Err(
                    AppError::new(rejection.status(), rejection.body_text(), resolution)
                        .logged_as("unreadable JSON body"),
                )
            }
        }
    }
}

/// `Query<T>` for query strings.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(AppError::bad_request(
                rejection.body_text(),
                "check the query parameters",
            )
            .logged_as("unreadable query string")),
        }
    }
}

/// `Path<T>` for path parameters.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(AppError::bad_request(
                rejection.body_text(),
                "check the id in the URL",
            )),
        }
    }
}
