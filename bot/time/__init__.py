"""Pure date and time logic: quiet hours, the programme calendar, working hours."""
