//! Rows to model types and back: the store hands the domain `lintel_model` types, never these rows. The fields are
//! the same, so each conversion is a move per field (checked by the compiler when either side changes).

macro_rules! both_ways {
    ($table:ident, $model:path, [$($f:ident),* $(,)?]) => {
        impl From<crate::$table::Model> for $model {
            fn from(r: crate::$table::Model) -> Self {
                Self { $($f: r.$f),* }
            }
        }
        impl From<$model> for crate::$table::Model {
            fn from(m: $model) -> Self {
                Self { $($f: m.$f),* }
            }
        }
        // A whole model as a change that writes every column (inserts, full updates).
        impl From<$model> for crate::$table::ActiveModel {
            fn from(m: $model) -> Self {
                crate::$table::Model::from(m).into()
            }
        }
    };
}

both_ways!(
    user,
    lintel_model::User,
    [
        id,
        name,
        domain_id,
        enabled,
        password_hash,
        default_project_id,
        extra,
        password_expires_at,
        failed_auth_count,
        last_failed_auth_at,
        created_at,
        options,
        last_active_at,
        password_created_at,
        password_self_service,
        service_project_id,
    ]
);
both_ways!(
    project,
    lintel_model::Project,
    [
        id,
        name,
        domain_id,
        parent_id,
        description,
        enabled,
        created_at,
    ]
);
both_ways!(
    domain,
    lintel_model::Domain,
    [id, name, description, enabled, created_at]
);
both_ways!(
    role,
    lintel_model::Role,
    [id, name, domain_id, description, options, created_at]
);
both_ways!(
    group,
    lintel_model::Group,
    [id, name, domain_id, description, created_at]
);
both_ways!(
    region,
    lintel_model::Region,
    [id, description, parent_region_id]
);
both_ways!(
    service,
    lintel_model::Service,
    [id, r#type, name, description, enabled]
);
both_ways!(
    endpoint,
    lintel_model::Endpoint,
    [id, service_id, interface, url, region_id, enabled,]
);
both_ways!(
    access_rule,
    lintel_model::AccessRule,
    [id, user_id, service, method, path, created_at,]
);
both_ways!(
    application_credential,
    lintel_model::AppCred,
    [
        id,
        name,
        user_id,
        project_id,
        description,
        secret_hash,
        unrestricted,
        expires_at,
        created_at,
        tls_client_auth_subject_dn,
        tls_client_auth_issuer_dn,
        tls_client_auth_x5t_s256,
        jwks,
        prior_secret_hash,
        prior_secret_retires_at,
        rotated_at,
        last_used_at,
        last_used_from,
        last_used_node,
        prior_last_used_at,
        rotation_required_at,
        prior_jwks,
        issue_rate,
    ]
);
both_ways!(node, lintel_model::Peer, [id, seq, beat]);
both_ways!(
    assignment,
    lintel_model::Assignment,
    [kind, actor_id, target_id, role_id, inherited]
);
both_ways!(
    implied_role,
    lintel_model::Implication,
    [prior_role_id, implied_role_id]
);
both_ways!(
    view_change,
    lintel_model::ViewChange,
    [id, kind, item_id, changed_at]
);
both_ways!(
    identity_provider,
    lintel_model::federation::IdentityProvider,
    [
        id,
        enabled,
        description,
        domain_id,
        authorization_ttl,
        audience,
        max_token_lifetime,
        require_jti,
        trust_bundle,
    ]
);
both_ways!(
    federation_mapping,
    lintel_model::federation::Mapping,
    [id, rules, schema_version]
);
both_ways!(
    federation_protocol,
    lintel_model::federation::Protocol,
    [id, idp_id, mapping_id, remote_id_attribute]
);
both_ways!(
    federated_user,
    lintel_model::federation::FederatedUser,
    [idp_id, protocol_id, unique_id, user_id, display_name]
);
