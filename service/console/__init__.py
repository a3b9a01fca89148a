"""The operator console: `gridhook console`, server-rendered pages behind the admin token."""
