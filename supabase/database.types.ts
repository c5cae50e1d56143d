export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]

export type Database = {
  public: {
    Tables: {
      agent_tasks: {
        Row: {
          agent_name: string
          completed_at: string | null
          completion_tokens: number
          cost_usd: number
          created_at: string
          error: string | null
          external_id: string | null
          id: string
          input: Json
          metadata: Json
          model: string | null
          output: Json | null
          parent_task_id: string | null
          prompt_tokens: number
          request_hash: string | null
          started_at: string | null
          status: string
          updated_at: string
          user_id: string
          workspace_id: string
        }
        Insert: {
          agent_name: string
          completed_at?: string | null
          completion_tokens?: number
          cost_usd?: number
          created_at?: string
          error?: string | null
          external_id?: string | null
          id?: string
          input?: Json
          metadata?: Json
          model?: string | null
          output?: Json | null
          parent_task_id?: string | null
          prompt_tokens?: number
          request_hash?: string | null
          started_at?: string | null
          status?: string
          updated_at?: string
          user_id?: string
          workspace_id: string
        }
        Update: {
          agent_name?: string
          completed_at?: string | null
          completion_tokens?: number
          cost_usd?: number
          created_at?: string
          error?: string | null
          external_id?: string | null
          id?: string
          input?: Json
          metadata?: Json
          model?: string | null
          output?: Json | null
          parent_task_id?: string | null
          prompt_tokens?: number
          request_hash?: string | null
          started_at?: string | null
          status?: string
          updated_at?: string
          user_id?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "agent_tasks_parent_fkey"
            columns: ["parent_task_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "agent_tasks"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "agent_tasks_workspace_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      alerts: {
        Row: {
          created_at: string
          id: string
          message: string
          metadata: Json
          read: boolean
          read_at: string | null
          severity: string
          task_id: string | null
          title: string | null
          type: string
          updated_at: string
          user_id: string
          workspace_id: string
        }
        Insert: {
          created_at?: string
          id?: string
          message: string
          metadata?: Json
          read?: boolean
          read_at?: string | null
          severity?: string
          task_id?: string | null
          title?: string | null
          type: string
          updated_at?: string
          user_id: string
          workspace_id: string
        }
        Update: {
          created_at?: string
          id?: string
          message?: string
          metadata?: Json
          read?: boolean
          read_at?: string | null
          severity?: string
          task_id?: string | null
          title?: string | null
          type?: string
          updated_at?: string
          user_id?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "alerts_task_fkey"
            columns: ["task_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "agent_tasks"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "alerts_workspace_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      calendar_channels: {
        Row: {
          calendar_id: string
          created_at: string
          expires_at: string
          id: string
          key_id: string
          resource_id: string
          resource_uri: string | null
          status: string
          stopped_at: string | null
          updated_at: string
        }
        Insert: {
          calendar_id: string
          created_at?: string
          expires_at: string
          id: string
          key_id: string
          resource_id: string
          resource_uri?: string | null
          status?: string
          stopped_at?: string | null
          updated_at?: string
        }
        Update: {
          calendar_id?: string
          created_at?: string
          expires_at?: string
          id?: string
          key_id?: string
          resource_id?: string
          resource_uri?: string | null
          status?: string
          stopped_at?: string | null
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "calendar_channels_calendar_id_fkey"
            columns: ["calendar_id"]
            isOneToOne: false
            referencedRelation: "calendars"
            referencedColumns: ["id"]
          },
        ]
      }
      calendar_events: {
        Row: {
          attendees: Json
          calendar_id: string | null
          created_at: string
          description: string | null
          duration_minutes: number
          google_calendar_id: string | null
          google_event_id: string | null
          ical_uid: string | null
          id: string
          lead_id: string | null
          meeting_url: string | null
          metadata: Json
          start_time: string
          status: string
          sync_status: string
          task_id: string | null
          time_zone: string
          title: string
          updated_at: string
          user_id: string
          workspace_id: string
        }
        Insert: {
          attendees?: Json
          calendar_id?: string | null
          created_at?: string
          description?: string | null
          duration_minutes?: number
          google_calendar_id?: string | null
          google_event_id?: string | null
          ical_uid?: string | null
          id?: string
          lead_id?: string | null
          meeting_url?: string | null
          metadata?: Json
          start_time: string
          status?: string
          sync_status?: string
          task_id?: string | null
          time_zone?: string
          title: string
          updated_at?: string
          user_id: string
          workspace_id: string
        }
        Update: {
          attendees?: Json
          calendar_id?: string | null
          created_at?: string
          description?: string | null
          duration_minutes?: number
          google_calendar_id?: string | null
          google_event_id?: string | null
          ical_uid?: string | null
          id?: string
          lead_id?: string | null
          meeting_url?: string | null
          metadata?: Json
          start_time?: string
          status?: string
          sync_status?: string
          task_id?: string | null
          time_zone?: string
          title?: string
          updated_at?: string
          user_id?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "calendar_events_calendar_id_fkey"
            columns: ["calendar_id"]
            isOneToOne: false
            referencedRelation: "calendars"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "calendar_events_lead_fkey"
            columns: ["lead_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "leads"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "calendar_events_task_fkey"
            columns: ["task_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "agent_tasks"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "calendar_events_workspace_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      calendars: {
        Row: {
          connection_id: string | null
          created_at: string
          google_calendar_id: string
          id: string
          last_full_sync_at: string | null
          last_synced_at: string | null
          status: string
          sync_token: string | null
          updated_at: string
          workspace_id: string
        }
        Insert: {
          connection_id?: string | null
          created_at?: string
          google_calendar_id: string
          id?: string
          last_full_sync_at?: string | null
          last_synced_at?: string | null
          status?: string
          sync_token?: string | null
          updated_at?: string
          workspace_id: string
        }
        Update: {
          connection_id?: string | null
          created_at?: string
          google_calendar_id?: string
          id?: string
          last_full_sync_at?: string | null
          last_synced_at?: string | null
          status?: string
          sync_token?: string | null
          updated_at?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "calendars_connection_id_fkey"
            columns: ["connection_id"]
            isOneToOne: false
            referencedRelation: "google_connections"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "calendars_workspace_id_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      call_scripts: {
        Row: {
          calendar_event_id: string | null
          created_at: string
          id: string
          lead_id: string | null
          meeting_type: string
          metadata: Json
          response: string | null
          script: Json
          sources: Json
          task_id: string | null
          updated_at: string
          user_id: string
          workspace_id: string
        }
        Insert: {
          calendar_event_id?: string | null
          created_at?: string
          id?: string
          lead_id?: string | null
          meeting_type?: string
          metadata?: Json
          response?: string | null
          script: Json
          sources?: Json
          task_id?: string | null
          updated_at?: string
          user_id: string
          workspace_id: string
        }
        Update: {
          calendar_event_id?: string | null
          created_at?: string
          id?: string
          lead_id?: string | null
          meeting_type?: string
          metadata?: Json
          response?: string | null
          script?: Json
          sources?: Json
          task_id?: string | null
          updated_at?: string
          user_id?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "call_scripts_calendar_event_fkey"
            columns: ["calendar_event_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "calendar_events"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "call_scripts_lead_fkey"
            columns: ["lead_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "leads"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "call_scripts_task_fkey"
            columns: ["task_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "agent_tasks"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "call_scripts_workspace_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      campaigns: {
        Row: {
          audience: string | null
          bounce_guard_since: string | null
          channel: string
          created_at: string
          description: string | null
          fingerprint: string | null
          id: string
          kpis: Json
          mailbox_ids: string[]
          message: string | null
          metadata: Json
          name: string
          pause_reason: string | null
          schedule: Json
          status: string
          steps: Json
          task_id: string | null
          updated_at: string
          user_id: string
          workspace_id: string
        }
        Insert: {
          audience?: string | null
          bounce_guard_since?: string | null
          channel?: string
          created_at?: string
          description?: string | null
          fingerprint?: string | null
          id?: string
          kpis?: Json
          mailbox_ids?: string[]
          message?: string | null
          metadata?: Json
          name: string
          pause_reason?: string | null
          schedule?: Json
          status?: string
          steps?: Json
          task_id?: string | null
          updated_at?: string
          user_id: string
          workspace_id: string
        }
        Update: {
          audience?: string | null
          bounce_guard_since?: string | null
          channel?: string
          created_at?: string
          description?: string | null
          fingerprint?: string | null
          id?: string
          kpis?: Json
          mailbox_ids?: string[]
          message?: string | null
          metadata?: Json
          name?: string
          pause_reason?: string | null
          schedule?: Json
          status?: string
          steps?: Json
          task_id?: string | null
          updated_at?: string
          user_id?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "campaigns_task_fkey"
            columns: ["task_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "agent_tasks"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "campaigns_workspace_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      domain_backoff: {
        Row: {
          backoff_until: string
          created_at: string
          domain: string
          failures: number
          last_status: number | null
          reason: string | null
          updated_at: string
        }
        Insert: {
          backoff_until: string
          created_at?: string
          domain: string
          failures?: number
          last_status?: number | null
          reason?: string | null
          updated_at?: string
        }
        Update: {
          backoff_until?: string
          created_at?: string
          domain?: string
          failures?: number
          last_status?: number | null
          reason?: string | null
          updated_at?: string
        }
        Relationships: []
      }
      email_events: {
        Row: {
          body_html: string | null
          body_text: string | null
          campaign_id: string | null
          created_at: string
          error: string | null
          event_type: string
          from_email: string | null
          gmail_message_id: string | null
          gmail_thread_id: string | null
          id: string
          lead_id: string | null
          mailbox_id: string | null
          message_id: string | null
          metadata: Json
          scheduled_at: string | null
          sent_at: string | null
          sequence_step: number
          subject: string | null
          task_id: string | null
          to_email: string | null
          updated_at: string
          user_id: string
          workspace_id: string
        }
        Insert: {
          body_html?: string | null
          body_text?: string | null
          campaign_id?: string | null
          created_at?: string
          error?: string | null
          event_type: string
          from_email?: string | null
          gmail_message_id?: string | null
          gmail_thread_id?: string | null
          id?: string
          lead_id?: string | null
          mailbox_id?: string | null
          message_id?: string | null
          metadata?: Json
          scheduled_at?: string | null
          sent_at?: string | null
          sequence_step?: number
          subject?: string | null
          task_id?: string | null
          to_email?: string | null
          updated_at?: string
          user_id: string
          workspace_id: string
        }
        Update: {
          body_html?: string | null
          body_text?: string | null
          campaign_id?: string | null
          created_at?: string
          error?: string | null
          event_type?: string
          from_email?: string | null
          gmail_message_id?: string | null
          gmail_thread_id?: string | null
          id?: string
          lead_id?: string | null
          mailbox_id?: string | null
          message_id?: string | null
          metadata?: Json
          scheduled_at?: string | null
          sent_at?: string | null
          sequence_step?: number
          subject?: string | null
          task_id?: string | null
          to_email?: string | null
          updated_at?: string
          user_id?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "email_events_campaign_fkey"
            columns: ["campaign_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "campaigns"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "email_events_lead_fkey"
            columns: ["lead_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "leads"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "email_events_mailbox_id_fkey"
            columns: ["mailbox_id"]
            isOneToOne: false
            referencedRelation: "mailboxes"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "email_events_task_fkey"
            columns: ["task_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "agent_tasks"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "email_events_workspace_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      email_suppressions: {
        Row: {
          created_at: string
          email: string
          id: string
          lead_id: string | null
          reason: string
          source: string | null
          updated_at: string
          user_id: string
          workspace_id: string
        }
        Insert: {
          created_at?: string
          email: string
          id?: string
          lead_id?: string | null
          reason: string
          source?: string | null
          updated_at?: string
          user_id: string
          workspace_id: string
        }
        Update: {
          created_at?: string
          email?: string
          id?: string
          lead_id?: string | null
          reason?: string
          source?: string | null
          updated_at?: string
          user_id?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "email_suppressions_lead_fkey"
            columns: ["lead_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "leads"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "email_suppressions_workspace_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      google_connections: {
        Row: {
          connected_at: string
          connected_by: string | null
          created_at: string
          disconnected_at: string | null
          email: string
          google_sub: string | null
          id: string
          kind: string
          refresh_token_ciphertext: string | null
          scopes: string[]
          status: string
          status_reason: string | null
          token_key_id: string | null
          updated_at: string
          workspace_id: string
        }
        Insert: {
          connected_at?: string
          connected_by?: string | null
          created_at?: string
          disconnected_at?: string | null
          email: string
          google_sub?: string | null
          id?: string
          kind?: string
          refresh_token_ciphertext?: string | null
          scopes?: string[]
          status?: string
          status_reason?: string | null
          token_key_id?: string | null
          updated_at?: string
          workspace_id: string
        }
        Update: {
          connected_at?: string
          connected_by?: string | null
          created_at?: string
          disconnected_at?: string | null
          email?: string
          google_sub?: string | null
          id?: string
          kind?: string
          refresh_token_ciphertext?: string | null
          scopes?: string[]
          status?: string
          status_reason?: string | null
          token_key_id?: string | null
          updated_at?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "google_connections_workspace_id_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      leads: {
        Row: {
          company: string | null
          country: string | null
          created_at: string
          email: string | null
          history: Json
          id: string
          industry: string | null
          lead_key: string | null
          location: string | null
          metadata: Json
          name: string | null
          notes: string | null
          phone: string | null
          role: string | null
          score: number
          score_reasons: Json
          source_url: string | null
          status: string
          tags: string[]
          task_id: string | null
          time_zone: string | null
          time_zone_source: string | null
          updated_at: string
          user_id: string
          website: string | null
          workspace_id: string
        }
        Insert: {
          company?: string | null
          country?: string | null
          created_at?: string
          email?: string | null
          history?: Json
          id?: string
          industry?: string | null
          lead_key?: string | null
          location?: string | null
          metadata?: Json
          name?: string | null
          notes?: string | null
          phone?: string | null
          role?: string | null
          score?: number
          score_reasons?: Json
          source_url?: string | null
          status?: string
          tags?: string[]
          task_id?: string | null
          time_zone?: string | null
          time_zone_source?: string | null
          updated_at?: string
          user_id: string
          website?: string | null
          workspace_id: string
        }
        Update: {
          company?: string | null
          country?: string | null
          created_at?: string
          email?: string | null
          history?: Json
          id?: string
          industry?: string | null
          lead_key?: string | null
          location?: string | null
          metadata?: Json
          name?: string | null
          notes?: string | null
          phone?: string | null
          role?: string | null
          score?: number
          score_reasons?: Json
          source_url?: string | null
          status?: string
          tags?: string[]
          task_id?: string | null
          time_zone?: string | null
          time_zone_source?: string | null
          updated_at?: string
          user_id?: string
          website?: string | null
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "leads_task_fkey"
            columns: ["task_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "agent_tasks"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "leads_workspace_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      mailboxes: {
        Row: {
          address: string
          bounce_guard_since: string | null
          connection_id: string | null
          created_at: string
          daily_cap: number
          display_name: string | null
          gap_jitter_seconds: number
          history_id: string | null
          hourly_cap: number
          id: string
          kind: string
          min_gap_seconds: number
          pause_reason: string | null
          paused_until: string | null
          ramp_start: number
          ramp_started_at: string
          ramp_step: number
          sender_check: Json | null
          sender_checked_at: string | null
          status: string
          updated_at: string
          watch_expires_at: string | null
          workspace_id: string
        }
        Insert: {
          address: string
          bounce_guard_since?: string | null
          connection_id?: string | null
          created_at?: string
          daily_cap?: number
          display_name?: string | null
          gap_jitter_seconds?: number
          history_id?: string | null
          hourly_cap?: number
          id?: string
          kind?: string
          min_gap_seconds?: number
          pause_reason?: string | null
          paused_until?: string | null
          ramp_start?: number
          ramp_started_at?: string
          ramp_step?: number
          sender_check?: Json | null
          sender_checked_at?: string | null
          status?: string
          updated_at?: string
          watch_expires_at?: string | null
          workspace_id: string
        }
        Update: {
          address?: string
          bounce_guard_since?: string | null
          connection_id?: string | null
          created_at?: string
          daily_cap?: number
          display_name?: string | null
          gap_jitter_seconds?: number
          history_id?: string | null
          hourly_cap?: number
          id?: string
          kind?: string
          min_gap_seconds?: number
          pause_reason?: string | null
          paused_until?: string | null
          ramp_start?: number
          ramp_started_at?: string
          ramp_step?: number
          sender_check?: Json | null
          sender_checked_at?: string | null
          status?: string
          updated_at?: string
          watch_expires_at?: string | null
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "mailboxes_connection_id_fkey"
            columns: ["connection_id"]
            isOneToOne: false
            referencedRelation: "google_connections"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "mailboxes_workspace_id_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      product_insights: {
        Row: {
          content: string | null
          created_at: string
          evidence: Json
          fingerprint: string | null
          id: string
          metadata: Json
          priority: string
          source: string | null
          tags: string[]
          task_id: string | null
          title: string
          updated_at: string
          user_id: string
          workspace_id: string
        }
        Insert: {
          content?: string | null
          created_at?: string
          evidence?: Json
          fingerprint?: string | null
          id?: string
          metadata?: Json
          priority?: string
          source?: string | null
          tags?: string[]
          task_id?: string | null
          title: string
          updated_at?: string
          user_id: string
          workspace_id: string
        }
        Update: {
          content?: string | null
          created_at?: string
          evidence?: Json
          fingerprint?: string | null
          id?: string
          metadata?: Json
          priority?: string
          source?: string | null
          tags?: string[]
          task_id?: string | null
          title?: string
          updated_at?: string
          user_id?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "product_insights_task_fkey"
            columns: ["task_id", "workspace_id"]
            isOneToOne: false
            referencedRelation: "agent_tasks"
            referencedColumns: ["id", "workspace_id"]
          },
          {
            foreignKeyName: "product_insights_workspace_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      scrapes: {
        Row: {
          contacts: Json
          content_bytes: number | null
          content_markdown: string | null
          created_at: string
          domain: string
          error: string | null
          expires_at: string | null
          fetched_at: string | null
          final_url: string | null
          http_status: number | null
          id: string
          json_ld: Json
          links: Json
          status: string
          task_id: string | null
          timings: Json
          title: string | null
          updated_at: string
          url: string
          url_key: string
        }
        Insert: {
          contacts?: Json
          content_bytes?: number | null
          content_markdown?: string | null
          created_at?: string
          domain: string
          error?: string | null
          expires_at?: string | null
          fetched_at?: string | null
          final_url?: string | null
          http_status?: number | null
          id?: string
          json_ld?: Json
          links?: Json
          status?: string
          task_id?: string | null
          timings?: Json
          title?: string | null
          updated_at?: string
          url: string
          url_key: string
        }
        Update: {
          contacts?: Json
          content_bytes?: number | null
          content_markdown?: string | null
          created_at?: string
          domain?: string
          error?: string | null
          expires_at?: string | null
          fetched_at?: string | null
          final_url?: string | null
          http_status?: number | null
          id?: string
          json_ld?: Json
          links?: Json
          status?: string
          task_id?: string | null
          timings?: Json
          title?: string | null
          updated_at?: string
          url?: string
          url_key?: string
        }
        Relationships: [
          {
            foreignKeyName: "scrapes_task_id_fkey"
            columns: ["task_id"]
            isOneToOne: false
            referencedRelation: "agent_tasks"
            referencedColumns: ["id"]
          },
        ]
      }
      webhook_events: {
        Row: {
          attempts: number
          created_at: string
          error: string | null
          event_id: string
          event_type: string
          id: string
          payload: Json
          processed_at: string | null
          source: string
          status: string
          updated_at: string
          user_id: string | null
        }
        Insert: {
          attempts?: number
          created_at?: string
          error?: string | null
          event_id: string
          event_type: string
          id?: string
          payload: Json
          processed_at?: string | null
          source: string
          status?: string
          updated_at?: string
          user_id?: string | null
        }
        Update: {
          attempts?: number
          created_at?: string
          error?: string | null
          event_id?: string
          event_type?: string
          id?: string
          payload?: Json
          processed_at?: string | null
          source?: string
          status?: string
          updated_at?: string
          user_id?: string | null
        }
        Relationships: []
      }
      workspace_invitations: {
        Row: {
          accepted_at: string | null
          accepted_by: string | null
          created_at: string
          email: string
          email_event_id: string | null
          expires_at: string
          id: string
          invited_by: string | null
          revoked_at: string | null
          role: string
          token_hash: string
          updated_at: string
          workspace_id: string
        }
        Insert: {
          accepted_at?: string | null
          accepted_by?: string | null
          created_at?: string
          email: string
          email_event_id?: string | null
          expires_at: string
          id?: string
          invited_by?: string | null
          revoked_at?: string | null
          role?: string
          token_hash: string
          updated_at?: string
          workspace_id: string
        }
        Update: {
          accepted_at?: string | null
          accepted_by?: string | null
          created_at?: string
          email?: string
          email_event_id?: string | null
          expires_at?: string
          id?: string
          invited_by?: string | null
          revoked_at?: string | null
          role?: string
          token_hash?: string
          updated_at?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "workspace_invitations_workspace_id_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      workspace_members: {
        Row: {
          created_at: string
          invited_by: string | null
          role: string
          updated_at: string
          user_id: string
          workspace_id: string
        }
        Insert: {
          created_at?: string
          invited_by?: string | null
          role: string
          updated_at?: string
          user_id: string
          workspace_id: string
        }
        Update: {
          created_at?: string
          invited_by?: string | null
          role?: string
          updated_at?: string
          user_id?: string
          workspace_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "workspace_members_workspace_id_fkey"
            columns: ["workspace_id"]
            isOneToOne: false
            referencedRelation: "workspaces"
            referencedColumns: ["id"]
          },
        ]
      }
      workspaces: {
        Row: {
          accept_foreign_contacts: boolean
          created_at: string
          created_by: string | null
          id: string
          member_token_budget_daily: number | null
          member_usd_budget_daily: number | null
          metadata: Json
          name: string
          personal: boolean
          postal_address: string | null
          sending_days: string
          sending_hours: string
          skip_holidays: boolean
          time_zone: string
          token_budget_daily: number | null
          updated_at: string
          usd_budget_daily: number | null
          working_days: string
          working_hours: string
        }
        Insert: {
          accept_foreign_contacts?: boolean
          created_at?: string
          created_by?: string | null
          id?: string
          member_token_budget_daily?: number | null
          member_usd_budget_daily?: number | null
          metadata?: Json
          name: string
          personal?: boolean
          postal_address?: string | null
          sending_days?: string
          sending_hours?: string
          skip_holidays?: boolean
          time_zone?: string
          token_budget_daily?: number | null
          updated_at?: string
          usd_budget_daily?: number | null
          working_days?: string
          working_hours?: string
        }
        Update: {
          accept_foreign_contacts?: boolean
          created_at?: string
          created_by?: string | null
          id?: string
          member_token_budget_daily?: number | null
          member_usd_budget_daily?: number | null
          metadata?: Json
          name?: string
          personal?: boolean
          postal_address?: string | null
          sending_days?: string
          sending_hours?: string
          skip_holidays?: boolean
          time_zone?: string
          token_budget_daily?: number | null
          updated_at?: string
          usd_budget_daily?: number | null
          working_days?: string
          working_hours?: string
        }
        Relationships: []
      }
    }
    Views: {
      [_ in never]: never
    }
    Functions: {
      [_ in never]: never
    }
    Enums: {
      [_ in never]: never
    }
    CompositeTypes: {
      [_ in never]: never
    }
  }
}

type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] &
        DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] &
        DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
        Row: infer R
      }
      ? R
      : never
    : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Insert: infer I
      }
      ? I
      : never
    : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Update: infer U
      }
      ? U
      : never
    : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never = never,
> = DefaultSchemaEnumNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never = never,
> = PublicCompositeTypeNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never

export const Constants = {
  public: {
    Enums: {},
  },
} as const
