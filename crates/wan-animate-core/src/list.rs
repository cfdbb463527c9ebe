//! Listing the account's tasks: one page, or every page as a stream that is bounded in pages
//! and requests whatever `total_page` claims, and by the handle's deadline.

use std::collections::VecDeque;
use std::time::Instant;

use futures_core::Stream;
use tracing::Instrument;
use wan_animate_types::{ListTasksQuery, ListTasksResponse, TaskSummary};

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::protocol;

/// The most pages [`Client::list_all`] reads (at 100 a page: 100,000 tasks, more than a day
/// of the account's submit limit allows in one 24-hour list window at realistic use).
pub const LIST_ALL_MAX_PAGES: u32 = 1000;

const PAGE_CAP_PREFIX: &str = "the task list claims more than";

/// Whether `e` is the error that ends a scan at its page cap.
pub(crate) fn is_page_cap(e: &Error) -> bool {
    e.kind() == ErrorKind::Decode && e.summary().starts_with(PAGE_CAP_PREFIX)
}

impl Client {
    /// One page of the account's tasks (the service keeps them 24 hours).
    ///
    /// ```
    /// use wan_animate_core::test_util::{MockHttp, MockReply};
    /// use wan_animate_core::types::{ListTasksQuery, TaskStatus};
    /// use wan_animate_core::{Client, ClientConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wan_animate_core::Error> {
    /// let http = MockHttp::new(|_| MockReply::json(200, r#"{"request_id":"r-l","total":3,"total_page":2,"page_no":1,"page_size":2,"data":[{"task_id":"t-1","status":"SUCCEEDED","model_name":"wan2.2-animate-mix"},{"task_id":"t-2","status":"RUNNING","model_name":"wan2.2-animate-mix"}]}"#));
    /// let client = Client::new(ClientConfig::new("sk-example"), http.clone())?;
    ///
    /// let query = ListTasksQuery::new().with_status(TaskStatus::Running).with_page_size(2);
    /// let page = client.list(&query).await?;
    /// assert_eq!(page.data.len(), 2);
    /// assert_eq!(page.data[0].task_id, "t-1");
    /// // The filter travels as query parameters of `GET /tasks`.
    /// assert!(http.requests()[0].query().contains("status=RUNNING"));
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, query: &ListTasksQuery) -> Result<ListTasksResponse, Error> {
        self.list_until(query, None).await
    }

    pub(crate) async fn list_until(
        &self,
        query: &ListTasksQuery,
        deadline: Option<Instant>,
    ) -> Result<ListTasksResponse, Error> {
        let span = tracing::debug_span!("wan_animate.list");
        let config = self.inner.config.clone();
        let q = query.clone();
        let page: ListTasksResponse = self
            .task_call(
                "list tasks",
                &move || protocol::build_list_request(&config, &q),
                deadline,
            )
            .instrument(span)
            .await?;
        self.learn_own_api_key_id(&page.data);
        Ok(page)
    }

    /// Every task matching `query`, page after page (100 a page unless the query says
    /// otherwise). The scan ends at the last page, at an empty page or one shorter than its `page_size`, at a page that
    /// repeats the previous one, and after [`LIST_ALL_MAX_PAGES`] pages with an error saying
    /// so, whatever `total_page` claims.
    ///
    /// ```
    /// use futures_util::TryStreamExt;
    /// use wan_animate_core::test_util::{MockHttp, MockReply};
    /// use wan_animate_core::types::ListTasksQuery;
    /// use wan_animate_core::{Client, ClientConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wan_animate_core::Error> {
    /// // Two pages: t-1 and t-2, then t-3.
    /// let http = MockHttp::new(|req| {
    ///     if req.query().contains("page_no=2") {
    ///         MockReply::json(200, r#"{"request_id":"r-m","total":3,"total_page":2,"page_no":2,"page_size":2,"data":[{"task_id":"t-3","status":"FAILED","model_name":"wan2.2-animate-move"}]}"#)
    ///     } else {
    ///         MockReply::json(200, r#"{"request_id":"r-l","total":3,"total_page":2,"page_no":1,"page_size":2,"data":[{"task_id":"t-1","status":"SUCCEEDED","model_name":"wan2.2-animate-mix"},{"task_id":"t-2","status":"RUNNING","model_name":"wan2.2-animate-mix"}]}"#)
    ///     }
    /// });
    /// let client = Client::new(ClientConfig::new("sk-example"), http.clone())?;
    ///
    /// let ids: Vec<String> = client
    ///     .list_all(ListTasksQuery::new().with_page_size(2))
    ///     .map_ok(|task| task.task_id)
    ///     .try_collect()
    ///     .await?;
    /// assert_eq!(ids, ["t-1", "t-2", "t-3"]);
    /// assert_eq!(http.count("GET", "/tasks"), 2);
    /// # Ok(()) }
    /// ```
    pub fn list_all(
        &self,
        query: ListTasksQuery,
    ) -> impl Stream<Item = Result<TaskSummary, Error>> + Send + use<> {
        self.list_pages(query, LIST_ALL_MAX_PAGES, None)
    }

    /// [`list_all`](Self::list_all) bounded to `max_pages` and `deadline`.
    pub(crate) fn list_pages(
        &self,
        query: ListTasksQuery,
        max_pages: u32,
        deadline: Option<Instant>,
    ) -> impl Stream<Item = Result<TaskSummary, Error>> + Send + use<> {
        struct State {
            client: Client,
            query: ListTasksQuery,
            page: u32,
            max_pages: u32,
            deadline: Option<Instant>,
            previous_first: Option<String>,
            buffered: VecDeque<TaskSummary>,
            done: bool,
        }
        let page_size = query.page_size.unwrap_or(100).max(1);
        let state = State {
            client: self.clone(),
            query: query.with_page_size(page_size),
            page: 1,
            max_pages: max_pages.max(1),
            deadline,
            previous_first: None,
            buffered: VecDeque::new(),
            done: false,
        };
        futures_util::stream::unfold(state, move |mut st| async move {
            loop {
                if let Some(t) = st.buffered.pop_front() {
                    return Some((Ok(t), st));
                }
                if st.done {
                    return None;
                }
                if st.page > st.max_pages {
                    st.done = true;
                    let e = Error::new(
                        ErrorKind::Decode,
                        format!(
                            "{PAGE_CAP_PREFIX} {} pages of {page_size}; stopped there",
                            st.max_pages
                        ),
                    )
                    .with_hint("narrow the query (a shorter time window, a model or a status)");
                    return Some((Err(e), st));
                }
                let q = st.query.clone().with_page_no(st.page);
                match st.client.list_until(&q, st.deadline).await {
                    Ok(page) => {
                        let total_pages = page.total_page.unwrap_or(0);
                        let first = page.data.first().map(|t| t.task_id.clone());
                        let repeated = first.is_some() && first == st.previous_first;
                        // A page shorter than the size the server says it used is the last.
                        let short = page.page_size.is_some_and(|n| (page.data.len() as u64) < n);
                        st.done = page.data.is_empty()
                            || repeated
                            || short
                            || u64::from(st.page) >= total_pages;
                        st.previous_first = first;
                        st.page += 1;
                        if !repeated {
                            st.buffered.extend(page.data);
                        }
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
            }
        })
    }

    /// Learns this key's `api_key_id` from list entries of tasks it knows it created.
    pub(crate) fn learn_own_api_key_id(&self, tasks: &[TaskSummary]) {
        let Ok(known) = self.inner.known_tasks.lock() else {
            return;
        };
        let found = tasks
            .iter()
            .filter(|t| known.contains(&t.task_id))
            .find_map(|t| t.api_key_id.clone());
        drop(known);
        if let Some(id) = found
            && let Ok(mut own) = self.inner.own_api_key_id.lock()
        {
            *own = Some(id);
        }
    }
}
