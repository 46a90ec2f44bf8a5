/*
 * web/routes.c - mugai-web's route table: every API path, its method, its
 * handler and the least role allowed. http.c applies the Origin rule, the
 * session, the role and the CSRF token from this table before a handler runs;
 * no handler repeats those checks. Roles: auditor < reviewer < admin.
 */
#include "web.h"

const web_route web_routes[] = {
    {"login", "POST", web_login, WEB_ROLE_NONE},
    {"logout", "POST", web_logout, WEB_ROLE_AUDITOR},
    {"me", "GET", web_me, WEB_ROLE_AUDITOR},
    {"messages", "GET", web_messages_list, WEB_ROLE_AUDITOR},
    {"messages/*", "GET", web_message_get, WEB_ROLE_AUDITOR},
    {"messages/*/requests", "POST", web_request_add, WEB_ROLE_REVIEWER},
    {"messages/*/unlock", "POST", web_message_unlock, WEB_ROLE_REVIEWER},
    {"requests", "GET", web_requests_list, WEB_ROLE_AUDITOR},
    {"requests/*/approve", "POST", web_request_approve, WEB_ROLE_ADMIN},
    {"requests/*/deny", "POST", web_request_deny, WEB_ROLE_ADMIN},
    {"downloads/*", "GET", web_download, WEB_ROLE_AUDITOR},
    {"audit", "GET", web_audit_list, WEB_ROLE_AUDITOR},
    {"audit/verify", "GET", web_audit_verify, WEB_ROLE_AUDITOR},
    {"users", "GET", web_users_list, WEB_ROLE_ADMIN},
    {"users", "POST", web_user_add, WEB_ROLE_ADMIN},
    {"users/*", "POST", web_user_change, WEB_ROLE_ADMIN},
};

const size_t web_nroutes = sizeof(web_routes) / sizeof(web_routes[0]);
