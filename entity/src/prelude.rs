//! Re-exports of every entity under its table-derived name.

pub use super::access_rule::Entity as AccessRule;
pub use super::application_credential::Entity as ApplicationCredential;
pub use super::application_credential_access_rule::Entity as ApplicationCredentialAccessRule;
pub use super::application_credential_role::Entity as ApplicationCredentialRole;
pub use super::assignment::Entity as Assignment;
pub use super::client_assertion_jti::Entity as ClientAssertionJti;
pub use super::domain::Entity as Domain;
pub use super::endpoint::Entity as Endpoint;
pub use super::group::Entity as Group;
pub use super::implied_role::Entity as ImpliedRole;
pub use super::project::Entity as Project;
pub use super::project_tag::Entity as ProjectTag;
pub use super::region::Entity as Region;
pub use super::revocation_event::Entity as RevocationEvent;
pub use super::role::Entity as Role;
pub use super::service::Entity as Service;
pub use super::user::Entity as User;
pub use super::user_group_membership::Entity as UserGroupMembership;
