"""Domain operations shared by dialogs, the command line and the scheduler."""
