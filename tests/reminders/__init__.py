"""缴费提醒 (sbweb/views/reminders.py)."""
