package desired

import "time"

// NoticeHeader is the response header of a desired-state poll (304, 200 and 503 alike) that
// carries the sequence number of the newest notice in force for the device; absent when
// there is none. An agent that has seen a lower number fetches its notices.
const NoticeHeader = "Samverk-Notice"

// Notice is a message to the people at a device, as the agent receives it from
// GET /api/v1/devices/{id}/notices or its stream.
type Notice struct {
	// Seq numbers notices; an agent asks for those after the last it has.
	Seq int64 `json:"seq"`
	// Severity is info, disruption or crisis.
	Severity string    `json:"severity"`
	Title    string    `json:"title"`
	Body     string    `json:"body"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	// Sender is the member the notice was sent for ("*": the consortium).
	Sender string  `json:"sender"`
	Survey *Survey `json:"survey,omitempty"`
}

// Survey is a question with two to five answers, each shown as a button of its colour. The
// answer goes back as its index: POST /api/v1/devices/{id}/notices/{seq}/answer.
type Survey struct {
	Question string         `json:"question"`
	Answers  []SurveyAnswer `json:"answers"`
}

// SurveyAnswer is one of a survey's answers.
type SurveyAnswer struct {
	Text string `json:"text"`
	// Color is the button's colour, #rrggbb.
	Color string `json:"color"`
}

// NoticeList is the answer of GET /api/v1/devices/{id}/notices.
type NoticeList struct {
	Notices []Notice `json:"notices"`
	// Partial says that the daemon is shedding load and sent crisis notices only; ask again
	// after the Retry-After.
	Partial bool `json:"partial,omitempty"`
}

// SurveyResponse is a device's answer to a survey: the index of the answer chosen.
type SurveyResponse struct {
	Answer int `json:"answer"`
}
