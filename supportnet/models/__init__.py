"""Models, one module per domain noun. Importing this package registers every table."""

from supportnet.models.user import AccountToken, LoginFailure, SiteRole, TokenPurpose, User, UserSession

__all__ = ["AccountToken", "LoginFailure", "SiteRole", "TokenPurpose", "User", "UserSession"]
