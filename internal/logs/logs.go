// Package logs holds what every package's loggers share.
package logs

import "log/slog"

// OrDiscard is log, or a logger that discards when log is nil: the nil
// logger that every option struct of the program may carry.
func OrDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
